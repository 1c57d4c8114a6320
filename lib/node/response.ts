// A real `http.ServerResponse` whose output goes to the exchange's FcgiResponse instead of a
// socket. Header storage (setHeader, getHeader, getHeaders, hasHeader, removeHeader,
// getHeaderNames) is node's own; what writes is replaced: writeHead, write, end, flushHeaders.
// The head is handed to the FcgiResponse when node:http would commit to it (writeHead, or the
// first write/end), and `_header` is set then, so `headersSent` and node's own "cannot set headers
// after they are sent" checks hold. Framing (Content-Length or chunked, FastCGI records) is the
// engine's; node's hop-by-hop headers (Connection, Transfer-Encoding) are not added.
import { IncomingMessage, STATUS_CODES, ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import type { FcgiResponse } from '../response.ts'
import type { ExchangeSocket } from './socket.ts'

type Callback = (err?: Error | null) => void
type Chunk = string | Uint8Array

/** A ServerResponse for `req` whose output goes to `out`. Its replaced methods are own
 * properties, not a subclass: Express re-parents `res` onto its own prototype (which derives
 * from ServerResponse.prototype), so prototype methods of a subclass would be lost. */
export function exchangeResponse(req: IncomingMessage, out: FcgiResponse, socket: ExchangeSocket): ExchangeResponse {
  const res = new ServerResponse(req) as ExchangeResponse
  let needDrain = false
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => (resolveDone = resolve))

  /** Hand the status and headers to the FcgiResponse; from now on they are sent. */
  const commitHead = (): void => {
    out.writeHead(res.statusCode)
    // the names as the app spelled them (node >= 15; the typings lack it)
    const names = (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()
    for (const name of names) {
      if (HOP_BY_HOP.has(name.toLowerCase())) continue
      const value = res.getHeader(name)
      if (value !== undefined) out.setHeader(name, typeof value === 'number' ? String(value) : value)
    }
    // node:http's own marker of a committed head (`headersSent` reads it); untyped
    ;(res as unknown as { _header: string })._header = `HTTP/1.1 ${res.statusCode} ${res.statusMessage || STATUS_CODES[res.statusCode] || 'unknown'}\r\n`
  }

  const failWrite = (err: Error, cb: Callback | undefined): void => {
    process.nextTick(() => {
      cb?.(err)
      if (res.listenerCount('error') > 0) res.emit('error', err)
    })
  }

  // node:http's signatures: writeHead(status, reason?, headers?), headers an object, a flat
  // [name, value, ...] array or [name, value] pairs.
  res.writeHead = function writeHead(
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ) {
    if (res.headersSent) throw codeError(new Error('Cannot write headers after they are sent to the client'), 'ERR_HTTP_HEADERS_SENT')
    if (typeof reason === 'string') res.statusMessage = reason
    else headers ??= reason
    const code = Number(statusCode)
    if (!Number.isInteger(code) || code < 100 || code > 999) {
      throw codeError(new RangeError(`Invalid status code: ${String(statusCode)}`), 'ERR_HTTP_INVALID_STATUS_CODE')
    }
    res.statusCode = code
    for (const [name, value] of headerEntries(headers)) res.setHeader(name, value)
    commitHead()
    return res
  } as ExchangeResponse['writeHead']

  res.flushHeaders = function flushHeaders() {
    if (!res.headersSent) commitHead()
    if (!res.finished) out.write('')
  }

  res.write = function write(chunk: Chunk, encodingOrCallback?: BufferEncoding | Callback, callback?: Callback): boolean {
    const [encoding, cb] = typeof encodingOrCallback === 'function' ? [undefined, encodingOrCallback] : [encodingOrCallback, callback]
    if (res.finished || res.destroyed) {
      failWrite(codeError(new Error('write after end'), 'ERR_STREAM_WRITE_AFTER_END'), cb)
      return false
    }
    const data = toBytes(chunk, encoding)
    if (!res.headersSent) commitHead()
    if (out.write(data)) {
      if (cb) process.nextTick(cb)
      return true
    }
    needDrain = true
    out.drain().then(() => {
      needDrain = false
      cb?.()
      res.emit('drain')
    })
    return false
  } as ExchangeResponse['write']

  res.end = function end(chunkOrCallback?: Chunk | Callback, encodingOrCallback?: BufferEncoding | Callback, callback?: Callback) {
    let chunk: Chunk | undefined
    let encoding: BufferEncoding | undefined
    let cb: Callback | undefined
    if (typeof chunkOrCallback === 'function') cb = chunkOrCallback
    else {
      chunk = chunkOrCallback ?? undefined
      if (typeof encodingOrCallback === 'function') cb = encodingOrCallback
      else [encoding, cb] = [encodingOrCallback, callback]
    }
    if (res.finished) {
      if (cb) {
        if (res.writableFinished) process.nextTick(cb, codeError(new Error('end after the response finished'), 'ERR_STREAM_ALREADY_FINISHED'))
        else res.once('finish', cb)
      }
      return res
    }
    const data = chunk === undefined ? undefined : toBytes(chunk, encoding)
    if (!res.headersSent) {
      // as node:http: a body given whole to end() gets its Content-Length
      if (data && !res.hasHeader('content-length') && !res.hasHeader('transfer-encoding') && bodyAllowed(res.statusCode)) {
        res.setHeader('Content-Length', data.length)
      }
      commitHead()
    }
    res.finished = true
    if (cb) res.once('finish', cb)
    out.end(data)
    process.nextTick(() => {
      res.emit('prefinish')
      res.emit('finish')
      resolveDone()
      // node:http: the response's 'close' follows 'finish'; the socket stub goes with it
      socket.destroy()
    })
    return res
  } as ExchangeResponse['end']

  Object.defineProperty(res, 'writableNeedDrain', { get: () => !res.destroyed && !res.finished && needDrain })
  Object.defineProperty(res, 'done', { value: done })
  res.assignSocket(socket as unknown as Socket)
  return res
}

export interface ExchangeResponse extends ServerResponse {
  /** Resolves once the response ended ('finish'), for the adapter's handler promise. */
  readonly done: Promise<void>
}

/** The engine frames the response: these would be wrong or duplicated if passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'])

function bodyAllowed(status: number): boolean {
  return status !== 204 && status !== 304 && !(status >= 100 && status < 200)
}

function toBytes(chunk: Chunk, encoding: BufferEncoding | undefined): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8')
  if (chunk instanceof Uint8Array) return chunk
  throw codeError(new TypeError(`The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${typeof chunk}`), 'ERR_INVALID_ARG_TYPE')
}

function headerEntries(headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): [string, OutgoingHttpHeader][] {
  if (!headers) return []
  if (!Array.isArray(headers)) {
    return Object.entries(headers).filter((e): e is [string, OutgoingHttpHeader] => e[1] !== undefined)
  }
  if (headers.length && Array.isArray(headers[0])) return headers as unknown as [string, OutgoingHttpHeader][]
  if (headers.length % 2 !== 0) throw codeError(new TypeError('The header array must hold name, value pairs'), 'ERR_INVALID_ARG_VALUE')
  const pairs: [string, OutgoingHttpHeader][] = []
  for (let i = 0; i < headers.length; i += 2) pairs.push([String(headers[i]), headers[i + 1]])
  return pairs
}

function codeError<E extends Error>(err: E, code: string): E & { code: string } {
  return Object.assign(err, { code })
}
