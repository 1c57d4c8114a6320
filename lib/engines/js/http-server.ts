// The js engine's HTTP/1.1 server, on node:http: the same handler as FastCGI, with CGI params
// synthesized from the request (RFC 3875) and the engine limits mapped to node:http's options.
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { BodyStream } from '../../body.ts'
import type { EngineServer, Exchange, ExchangeHandler, ResolvedOptions, ResponseSink } from '../../engine.ts'
import { normalizeAddress } from '../../options.ts'
import { newStats } from '../../stats.ts'
import { closeGracefully } from './close.ts'
import { addressOf, listen } from './listen.ts'

export async function serveHttpJs(options: ResolvedOptions, onExchange: ExchangeHandler): Promise<EngineServer> {
  const stats = newStats()
  const allowed = new Set(options.allowedAddresses)
  /** Per connection: requests running, closing, the client's FIN (`ended`) with the callbacks
   * that abort the signals of the requests it sent, and whether a request was refused (the
   * connection closes after that answer; what was pipelined behind it is ignored, as by native). */
  const sockets = new Map<Socket, { active: number; draining: boolean; ended: boolean; refused: boolean; gone: Set<() => void> }>()
  let onIdle: (() => void) | null = null
  let closing = false
  let nextId = 1

  const server = http.createServer({
    maxHeaderSize: Math.min(options.maxParamsBytes, 1024 * 1024),
    headersTimeout: options.paramsTimeout,
    // how often node looks for requests past headersTimeout (its default, 30 s, lets slowloris linger)
    connectionsCheckingInterval: Math.min(1000, options.paramsTimeout),
    requestTimeout: 0, // bodies stream for as long as they need; idle sockets time out instead
    // for the `Keep-Alive: timeout=` header; the timer itself is set in `done` (node's adds 1 s)
    keepAliveTimeout: options.idleTimeout,
    noDelay: true,
  })
  // The client's FIN does not cut the responses to the requests it sent whole: they go out, then
  // the connection closes; their signals abort (the 'end' listener below). As Go's net/http, and
  // as the native engine; node:http's default drops a response not written yet.
  ;(server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
  // one more than allowed, so that "too many" is visible (node drops headers past the count)
  server.maxHeadersCount = options.maxParams + 1
  server.maxConnections = options.maxConns
  // the idle timeout, exact: idleTimeout after the connect or the last response (see `done`), a
  // connection with no request in flight closes; one whose handler is still running stays (with
  // this listener, node:http leaves the socket alone)
  server.setTimeout(options.idleTimeout)
  server.on('timeout', (socket: Socket) => {
    const state = sockets.get(socket)
    if (state && state.active > 0) return
    options.logger('info', `idle HTTP connection closed after ${options.idleTimeout} ms`)
    socket.destroy()
  })

  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress
    if (peer && allowed.size > 0 && !allowed.has(normalizeAddress(peer))) {
      options.logger('warn', `connection from ${peer} refused: not in allowedAddresses`)
      stats.errors++
      socket.destroy()
      return
    }
    stats.connections++
    stats.connectionsTotal++
    const state = { active: 0, draining: closing, ended: false, refused: false, gone: new Set<() => void>() }
    sockets.set(socket, state)
    // an 'end' listener leaves node:http's native parser path alone (only 'data'/'readable' don't)
    socket.on('end', () => {
      state.ended = true
      for (const gone of state.gone) gone()
    })
    // no 'data' listener for the byte count: node:http would stop feeding the socket to its
    // parser natively (unconsume) and go through JS for every read, at half the speed
    socket.on('close', () => {
      stats.bytesRead += socket.bytesRead
      stats.bytesWritten += socket.bytesWritten
      stats.connections--
      sockets.delete(socket)
      if (sockets.size === 0) onIdle?.()
    })
  })
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    // a peer that resets or times out a kept-alive connection sent no bad request
    // bytes behind a refused request: its answer closes the connection, they get none
    if (sockets.get(socket)?.refused) return
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      socket.destroy()
      return
    }
    stats.errors++
    options.logger('info', `bad HTTP request: ${err.message}`)
    if (!socket.writable) return socket.destroy()
    const status = clientErrorStatus(err)
    const body = `${http.STATUS_CODES[status]}\n`
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
  })

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket
    const state = sockets.get(socket)
    if (state?.refused) {
      req.resume()
      return
    }
    if (state) state.active++
    stats.requestsTotal++
    stats.requestsActive++
    // created on first use: most handlers never look at req.signal, and it costs per request
    let controller: AbortController | null = null
    const abort = (err: Error) => (controller ??= new AbortController()).abort(err)
    const stdin = new BodyStream()
    const data = new BodyStream()
    data.end()
    let finished = false
    // the client's FIN: once this request is whole, its signal aborts (its response still goes
    // out); a request the FIN cut short is aborted by 'close' instead
    let signalled = false
    const gone = () => {
      if (finished || signalled) return
      if (!req.complete) {
        req.once('end', gone)
        return
      }
      signalled = true
      stats.aborts++
      abort(new Error('request aborted: client connection closed'))
    }
    const done = () => {
      if (finished) return
      finished = true
      stats.requestsActive--
      stdin.discard()
      if (state) {
        state.gone.delete(gone)
        state.active--
        // closing: a kept-alive connection ends once its last response is out
        if (state.draining && state.active === 0) setImmediate(() => socket.end())
        // idle from now (after node:http's own keep-alive timer, which this replaces)
        else if (state.active === 0 && !socket.destroyed) socket.setTimeout(options.idleTimeout)
      }
    }
    res.on('finish', done)
    if (state) {
      state.gone.add(gone)
      if (state.ended) gone()
    }
    res.on('close', () => {
      if (!res.writableFinished) {
        stats.aborts++
        const err = new Error('request aborted: client connection closed')
        abort(err)
        stdin.fail(err)
      }
      done()
    })
    if (state?.draining) res.shouldKeepAlive = false

    const refusal = refuse(req, options)
    if (refusal) {
      if (state) state.refused = true
      stats.errors++
      options.logger('info', `HTTP request refused with ${refusal}`)
      const body = `${http.STATUS_CODES[refusal]}\n`
      // A refused request is not a valid HEAD either: its error text goes out as for any other
      // malformed head (clientError's answer, and native's). `_hasBody` is node's own switch.
      ;(res as http.ServerResponse & { _hasBody: boolean })._hasBody = true
      // Content-Length: an HTTP/0.9 or 2.0 request would otherwise get a body ended by the close
      res.writeHead(refusal, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, Connection: 'close' }).end(body)
      req.resume()
      return
    }
    let bodyBytes = 0
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length
      if (bodyBytes > options.maxBodyBytes) {
        stats.errors++
        const err = new Error('body larger than maxBodyBytes')
        abort(err)
        stdin.fail(err)
        if (!res.headersSent) res.writeHead(413, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end('Payload Too Large\n')
        else res.destroy()
        req.destroy()
        return
      }
      if (!stdin.push(chunk)) {
        req.pause()
        stdin.onDrain = () => req.resume()
      }
    })
    req.on('end', () => stdin.end())

    const sink: ResponseSink = {
      send(head, body, end) {
        if (res.destroyed) return true
        if (head) {
          const flat: string[] = []
          let framed = false
          for (const [n, v] of head.headers) {
            flat.push(n, v)
            if (n.length >= 14 && /^(content-length|transfer-encoding)$/i.test(n)) framed = true
          }
          // the whole response in one call: Content-Length, as node:http gives res.end(data)
          // (writeHead alone would commit to chunked before the body is known). HEAD: the API
          // dropped the body, so its length is unknown here.
          const sized = head.status >= 200 && head.status !== 204 && head.status !== 304 && req.method !== 'HEAD'
          if (end && !framed && sized) {
            flat.push('Content-Length', String(body?.length ?? 0))
          }
          res.writeHead(head.status, flat)
        }
        if (end) {
          res.end(body ?? undefined)
          return true
        }
        return body ? res.write(body) : true
      },
      drain() {
        if (!res.writableNeedDrain || res.destroyed) return Promise.resolve()
        return new Promise((resolve) => {
          const fin = () => {
            res.off('drain', fin)
            res.off('close', fin)
            resolve()
          }
          res.on('drain', fin)
          res.on('close', fin)
        })
      },
      stderr(chunk) {
        options.logger('info', `stderr: ${Buffer.from(chunk).toString().trimEnd()}`)
      },
      abort() {
        stats.errors++
        abort(new Error('response cut after a handler error'))
        res.destroy()
      },
    }
    const exchange: Exchange = {
      protocol: 'http',
      role: 'responder',
      id: nextId++,
      method: req.method ?? 'GET',
      uri: req.url ?? '/',
      get params() {
        const value = cgiParams(req)
        Object.defineProperty(this, 'params', { value })
        return value
      },
      stdin,
      data,
      get signal() {
        return (controller ??= new AbortController()).signal
      },
      sink,
    }
    onExchange(exchange)
  })

  await listen(server, options.listen)
  return {
    address: addressOf(server, options.listen),
    stats: () => {
      let read = stats.bytesRead
      let written = stats.bytesWritten
      for (const socket of sockets.keys()) {
        read += socket.bytesRead
        written += socket.bytesWritten
      }
      return { ...stats, bytesRead: read, bytesWritten: written }
    },
    close: (timeout) => {
      closing = true
      server.closeIdleConnections()
      return closeGracefully({
        server,
        timeout,
        connections: () =>
          new Set(
            [...sockets].map(([socket, state]) => ({
              drainForClose() {
                state.draining = true
                if (state.active === 0) socket.end()
              },
              destroy: () => socket.destroy(),
            })),
          ),
        setOnIdle: (cb) => (onIdle = cb),
      })
    },
  }
}

const CLIENT_ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
}

/**
 * The status for what llhttp refused. Its HPE_INVALID_VERSION covers both a well-formed version
 * it does not speak (`HTTP/3.0`: 505, RFC 9110 §15.6.6) and a request line that is not one
 * (`HTTP/1.x`, `HTTP/1.10`, `HTTP/1.1 extra`, a bare LF after the version: 400, RFC 9112 §2.3,
 * §3). llhttp stops right after the minor digit with "Invalid HTTP version" only for the first;
 * the bytes there, when this read holds them, tell `HTTP/3.0\r\n` from `HTTP/3.0 x`.
 */
function clientErrorStatus(err: Error & { code?: string; reason?: string; rawPacket?: Buffer; bytesParsed?: number }): number {
  if (err.code === 'HPE_INVALID_VERSION') {
    if (err.reason !== 'Invalid HTTP version') return 400
    const packet = err.rawPacket
    const at = err.bytesParsed ?? 0
    const crlf = !packet || (at >= packet.length || packet[at] === 0x0d) && (at + 1 >= packet.length || packet[at + 1] === 0x0a)
    return crlf ? 505 : 400
  }
  return CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400
}

/** What node:http lets through: version, a second Host (RFC 9112 §3.2), URL length, header
 * count, declared body. */
function refuse(req: http.IncomingMessage, options: ResolvedOptions): number | null {
  if (req.httpVersionMajor !== 1) return 505
  if (hostCount(req.rawHeaders) > 1) return 400
  if ((req.url ?? '').length > options.maxUrlBytes) return 414
  if (req.rawHeaders.length / 2 > options.maxParams) return 431
  if (Number(req.headers['content-length'] ?? 0) > options.maxBodyBytes) return 413
  return null
}

function hostCount(raw: string[]): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.length === 4 && name.toLowerCase() === 'host') n++
  }
  return n
}

/** CGI meta-variables for an HTTP request (RFC 3875 section 4.1), as a front end would send them. */
export function cgiParams(req: http.IncomingMessage): Record<string, string> {
  const uri = req.url ?? '/'
  const q = uri.indexOf('?')
  const path = q >= 0 ? uri.slice(0, q) : uri
  const local = req.socket.address() as AddressInfo | Record<string, never>
  const host = req.headers.host ?? ''
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'fcgi',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: host.replace(/:\d+$/, '') || local.address || 'localhost',
    SERVER_ADDR: local.address ?? '',
    SERVER_PORT: local.port !== undefined ? String(local.port) : '',
    REMOTE_ADDR: normalizeAddress(req.socket.remoteAddress ?? ''),
    REMOTE_PORT: req.socket.remotePort !== undefined ? String(req.socket.remotePort) : '',
    REQUEST_SCHEME: 'http',
    REQUEST_METHOD: req.method ?? 'GET',
    REQUEST_URI: uri,
    SCRIPT_NAME: '',
    PATH_INFO: safeDecode(path),
    QUERY_STRING: q >= 0 ? uri.slice(q + 1) : '',
  }
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i].toUpperCase().replaceAll('-', '_')
    const name = key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH' ? key : `HTTP_${key}`
    const prev = params[name]
    params[name] = prev === undefined ? raw[i + 1] : `${prev}${key === 'COOKIE' ? '; ' : ', '}${raw[i + 1]}`
  }
  return params
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}
