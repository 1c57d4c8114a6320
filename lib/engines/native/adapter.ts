// The native engine's JavaScript half: turns the batches of events the Rust core pushes
// (crates/fcgi-node/src/events.rs) into Exchanges, and answers through one synchronous
// native call per response part. Observable behaviour is the js engine's.
import { BodyStream } from '../../body.ts'
import type { Engine, EngineServer, Exchange, ExchangeHandler, Protocol, ResolvedOptions, ResponseHead, ResponseSink } from '../../engine.ts'
import { decodePairs } from '../../fastcgi/codec.ts'
import { statusLine } from '../../fastcgi/head.ts'
import type { Address, Logger, Role, ServerStats } from '../../types.ts'

/** The surface of crates/fcgi-node (see binding/index.d.cts). */
export interface NativeBinding {
  NativeServer: new (options: NativeOptions, onBatch: (batch: Buffer) => void) => NativeServerHandle
}

interface NativeOptions {
  protocol: Protocol
  kind: string
  path?: string
  host?: string
  port?: number
  fd?: number
  maxConns: number
  maxReqs: number
  maxParamsBytes: number
  maxParams: number
  maxBodyBytes: number
  maxUrlBytes: number
  paramsTimeout: number
  idleTimeout: number
  allowedAddresses: string[]
}

export interface NativeServerHandle {
  readonly address: { kind: string; path?: string; host?: string; port?: number }
  send(handle: number, head: string | null, body: Uint8Array | null, end: boolean): boolean
  sendHeld(handle: number, head: string | null, body: Uint8Array, end: boolean): boolean
  stderr(handle: number, chunk: Uint8Array): void
  cut(handle: number): void
  pause(handle: number): void
  resume(handle: number): void
  close(timeout: number): void
  release(): void
  flush(): void
  stats(): ServerStats & { wakeups: number }
}

// event kinds (events.rs)
const EV_REQUEST = 1
const EV_STDIN = 2
const EV_STDIN_END = 3
const EV_DATA = 4
const EV_DATA_END = 5
const EV_ABORT = 6
const EV_DRAIN = 7
const EV_LOG = 8
const EV_CLOSED = 9
/** In an EV_ABORT arg: only the signal aborts (crates/fcgi-node/src/events.rs). */
const ABORT_SIGNAL_ONLY = 0x100

const ROLES: Role[] = ['responder', 'responder', 'authorizer', 'filter']
const ABORT_REASONS = ['FCGI_ABORT_REQUEST', 'connection closed', 'connection lost', 'body larger than maxBodyBytes']
const LEVELS = ['info', 'warn', 'error'] as const
const EMPTY = Buffer.alloc(0)
/** Bodies from this size on go to `sendHeld` (measured: a 1 MiB body costs a copy otherwise). */
const HOLD_MIN = 32 * 1024

/** The CGI head as one latin1 string; Rust copies it straight into the write buffer. */
function headText(head: ResponseHead): string {
  let s = `Status: ${statusLine(head.status)}\r\n`
  for (const [name, value] of head.headers) s += `${name}: ${value}\r\n`
  return s + '\r\n'
}

/** HTTP: the status and header lines; Rust frames them (crates/fcgi-node/src/http_conn.rs). */
function httpHeadText(head: ResponseHead): string {
  let s = `${head.status}\r\n`
  for (const [name, value] of head.headers) s += `${name}: ${value}\r\n`
  return s
}

/** Names seen at each position of the last params (HTTP and front ends send the same names in
 * the same order on every request), internalized: a name whose bytes match is reused instead of
 * sliced and looked up in V8's string table again. */
const NAME_CACHE: string[] = []

function internalize(name: string): string {
  // a property key is internalized; reading it back gives the internalized string
  return Object.keys({ [name]: 0 })[0] ?? name
}

/** A name-value pair length at `off` (FastCGI: one byte below 128, else four with the top bit). */
function lenAt(buf: Buffer, off: number): number {
  const b = buf[off]
  return b < 128 ? b : (b & 0x7f) * 0x1000000 + (buf[off + 1] << 16) + (buf[off + 2] << 8) + buf[off + 3]
}

const lenSize = (buf: Buffer, off: number): number => (buf[off] < 128 ? 1 : 4)

/** Params whose bytes are all ASCII: one latin1 string for the whole buffer, names and values
 * sliced from it (what decodePairs returns, without a native call per string). */
function decodeAsciiPairs(buf: Buffer): Record<string, string> {
  const s = buf.latin1Slice(0, buf.length)
  const out: Record<string, string> = {}
  const end = buf.length
  let off = 0
  for (let i = 0; off < end; i++) {
    const nlen = lenAt(buf, off)
    off += lenSize(buf, off)
    const vlen = lenAt(buf, off)
    off += lenSize(buf, off)
    let name = i < 64 ? NAME_CACHE[i] : undefined
    if (name === undefined || name.length !== nlen || !s.startsWith(name, off)) {
      name = s.slice(off, off + nlen)
      if (i < 64 && nlen <= 64) NAME_CACHE[i] = name = internalize(name)
    }
    off += nlen
    const value = s.slice(off, off + vlen)
    off += vlen
    // a param named __proto__ must stay data, not replace the object's prototype
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
    else out[name] = value
  }
  return out
}

/** The value of `name` in ASCII params (the last pair of that name, as decodeAsciiPairs keeps),
 * read without decoding the others: `req.method` and `req.url` of a request whose params nobody
 * reads cost a walk over the lengths. Empty values count as absent (the API falls back). */
function findAsciiParam(buf: Buffer, name: string): string | undefined {
  const end = buf.length
  let off = 0
  let at = -1
  let len = 0
  while (off < end) {
    const nlen = lenAt(buf, off)
    off += lenSize(buf, off)
    const vlen = lenAt(buf, off)
    off += lenSize(buf, off)
    if (nlen === name.length) {
      let i = 0
      while (i < nlen && buf[off + i] === name.charCodeAt(i)) i++
      if (i === nlen) {
        at = off + nlen
        len = vlen
      }
    }
    off += nlen + vlen
  }
  return len === 0 ? undefined : buf.latin1Slice(at, at + len)
}

declare module 'node:buffer' {
  interface Buffer {
    latin1Slice(start: number, end: number): string
  }
}

/** One request: the exchange handed to the API layer, and its response sink. */
class NativeExchange implements Exchange, ResponseSink {
  readonly stdin = new BodyStream()
  readonly data = new BodyStream()
  /** Created on first use: an AbortController costs more than the rest of a request. */
  private controller: AbortController | null = null
  private abortReason: Error | null = null
  /** The request is over for the engine (ended, cut or aborted): further sends go nowhere. */
  done = false
  private paused = false
  private needDrain = false
  private drainWaiters: (() => void)[] | null = null
  private decoded: Record<string, string> | null = null

  constructor(
    private readonly host: ServerHost,
    readonly protocol: Protocol,
    readonly handle: number,
    readonly role: Role,
    readonly id: number,
    private raw: Buffer,
    private readonly ascii: boolean,
  ) {
    if (role !== 'filter') this.data.end()
    if (role === 'authorizer') this.stdin.end()
  }

  get sink(): ResponseSink {
    return this
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.abortReason) this.controller.abort(this.abortReason)
    }
    return this.controller.signal
  }

  private abortSignal(err: Error): void {
    this.abortReason ??= err
    this.controller?.abort(err)
  }

  /** REQUEST_METHOD without building `params` (ASCII params only; else the API reads params). */
  get method(): string | undefined {
    if (this.decoded || !this.ascii) return this.decoded?.REQUEST_METHOD || undefined
    return findAsciiParam(this.raw, 'REQUEST_METHOD')
  }

  /** REQUEST_URI without building `params`, as `method`. */
  get uri(): string | undefined {
    if (this.decoded || !this.ascii) return this.decoded?.REQUEST_URI || undefined
    return findAsciiParam(this.raw, 'REQUEST_URI')
  }

  get params(): Record<string, string> {
    if (this.decoded) return this.decoded
    // validated by the Rust side: no truncated pair, not over maxParams
    if (this.ascii) this.decoded = decodeAsciiPairs(this.raw)
    else {
      const pairs = decodePairs(this.raw)
      this.decoded = pairs === 'limit' ? {} : pairs
    }
    this.raw = EMPTY
    return this.decoded
  }

  // ---- engine side ----

  push(stream: BodyStream, chunk: Buffer): void {
    if (!stream.push(chunk) && !this.paused && !this.done) {
      this.paused = true
      this.host.native.pause(this.handle)
      stream.onDrain = () => {
        if (!this.paused) return
        this.paused = false
        this.host.native.resume(this.handle)
      }
    }
  }

  /** The Rust side ended the request (abort record, body limit, connection gone). */
  /** HTTP: the client sent its FIN after the whole request. The signal aborts, but the response
   * can still go out (a client that only half-closed gets it), then the connection closes. */
  clientGone(): void {
    if (!this.done) this.abortSignal(new Error('request aborted: client connection closed'))
  }

  aborted(why: string): void {
    if (this.done) return
    this.done = true
    this.host.requests.delete(this.handle)
    const err = new Error(`request aborted: ${why}`)
    this.abortSignal(err)
    this.stdin.fail(err)
    this.data.fail(err)
    this.stdin.discard()
    this.data.discard()
    this.wakeDrain()
  }

  wakeDrain(): void {
    this.needDrain = false
    const waiters = this.drainWaiters
    this.drainWaiters = null
    if (waiters) for (const w of waiters) w()
  }

  private over(): void {
    this.done = true
    this.host.requests.delete(this.handle)
    this.stdin.discard() // the rest of the body, if any comes, is dropped
    this.data.discard()
    this.wakeDrain()
  }

  // ---- ResponseSink ----

  send(head: ResponseHead | null, body: Uint8Array | null, end: boolean): boolean {
    if (this.done) return true // aborted or cut: the response goes nowhere
    const headLines = head ? (this.protocol === 'http' ? httpHeadText(head) : headText(head)) : null
    // a large body is held by the native side until written instead of copied (see
    // crates/fcgi-node/src/output.rs); below HOLD_MIN the copy is cheaper than the reference
    const ok =
      body !== null && body.length >= HOLD_MIN
        ? this.host.native.sendHeld(this.handle, headLines, body, end)
        : this.host.native.send(this.handle, headLines, body, end)
    this.host.scheduleFlush()
    if (end) this.over()
    else if (!ok) this.needDrain = true
    return ok
  }

  drain(): Promise<void> {
    if (!this.needDrain || this.done) return Promise.resolve()
    return new Promise((resolve) => (this.drainWaiters ??= []).push(resolve))
  }

  stderr(chunk: Uint8Array): void {
    if (this.done || chunk.length === 0) return
    if (this.protocol === 'http') {
      // HTTP has no stderr stream: the server's log, as the js engine does
      this.host.logger('info', `stderr: ${Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString().trimEnd()}`)
      return
    }
    this.host.native.stderr(this.handle, chunk)
    this.host.scheduleFlush()
  }

  abort(): void {
    if (this.done) return
    const err = new Error('request aborted: response cut after a handler error')
    this.abortSignal(err)
    this.stdin.fail(err)
    this.data.fail(err)
    this.host.native.cut(this.handle)
    this.host.scheduleFlush()
    this.over()
  }
}

interface ServerHost {
  native: NativeServerHandle
  logger: Logger
  requests: Map<number, NativeExchange>
  /** Output was queued: wake the connections once, after this wave of responses. */
  scheduleFlush(): void
}

function nativeOptions(protocol: Protocol, options: ResolvedOptions): NativeOptions {
  const l = options.listen
  return {
    protocol,
    kind: l.type,
    path: l.type === 'unix' ? l.path : undefined,
    host: l.type === 'tcp' ? l.host : undefined,
    port: l.type === 'tcp' ? l.port : undefined,
    fd: l.type === 'fd' ? l.fd : undefined,
    maxConns: options.maxConns,
    maxReqs: options.maxReqs,
    maxParamsBytes: options.maxParamsBytes,
    maxParams: options.maxParams,
    maxBodyBytes: options.maxBodyBytes,
    maxUrlBytes: options.maxUrlBytes,
    paramsTimeout: options.paramsTimeout,
    idleTimeout: options.idleTimeout,
    allowedAddresses: options.allowedAddresses,
  }
}

/** Rust reports listen errors as `CODE|message`: rethrow them the way Node would. */
function listenError(err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err)
  const bar = msg.indexOf('|')
  if (bar < 0) return err instanceof Error ? err : new Error(msg)
  return Object.assign(new Error(msg.slice(bar + 1)), { code: msg.slice(0, bar) })
}

function serveNative(binding: NativeBinding, protocol: Protocol, options: ResolvedOptions, onExchange: ExchangeHandler): EngineServer {
  const logger: Logger = options.logger
  const requests = new Map<number, NativeExchange>()
  let closed: (() => void) | null = null
  let closedPromise: Promise<void> | null = null
  let host: ServerHost

  const onBatch = (batch: Buffer): void => {
    const len = batch.length
    if (len < 4) return
    const n = batch.readUInt32LE(len - 4)
    if (n === 0) return
    const metaOff = len - 4 - n * 16
    const meta =
      (batch.byteOffset + metaOff) % 4 === 0
        ? new Uint32Array(batch.buffer, batch.byteOffset + metaOff, n * 4)
        : new Uint32Array(Uint8Array.prototype.slice.call(batch, metaOff, len - 4).buffer)
    for (let i = 0; i < n * 4; i += 4) {
      const word = meta[i]
      const kind = word & 0xff
      const arg = word >>> 8
      const handle = meta[i + 1]
      const off = meta[i + 2]
      const size = meta[i + 3]
      try {
        switch (kind) {
          case EV_REQUEST: {
            const role = ROLES[(arg >>> 16) & 3] ?? 'responder'
            // HTTP requests have no FastCGI id: the handle numbers them (the js engine counts)
            const id = protocol === 'http' ? handle : arg & 0xffff
            const ex = new NativeExchange(host, protocol, handle, role, id, batch.subarray(off, off + size), (arg & 0x40000) !== 0)
            if (arg & 0x80000) ex.stdin.end() // the empty STDIN came in the same batch
            requests.set(handle, ex)
            onExchange(ex)
            break
          }
          case EV_STDIN:
          case EV_DATA: {
            const ex = requests.get(handle)
            if (ex) ex.push(kind === EV_STDIN ? ex.stdin : ex.data, batch.subarray(off, off + size))
            break
          }
          case EV_STDIN_END:
            requests.get(handle)?.stdin.end()
            break
          case EV_DATA_END:
            requests.get(handle)?.data.end()
            break
          case EV_ABORT:
            if (arg & ABORT_SIGNAL_ONLY) requests.get(handle)?.clientGone()
            else requests.get(handle)?.aborted(protocol === 'http' && arg === 1 ? 'client connection closed' : (ABORT_REASONS[arg] ?? 'connection lost'))
            break
          case EV_DRAIN:
            requests.get(handle)?.wakeDrain()
            break
          case EV_LOG:
            logger(LEVELS[arg] ?? 'info', batch.toString('utf8', off, off + size))
            break
          case EV_CLOSED:
            host.native.release()
            closed?.()
            break
        }
      } catch (err) {
        logger('error', `native engine: event ${kind} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
      }
    }
  }

  let native: NativeServerHandle
  try {
    native = new binding.NativeServer(nativeOptions(protocol, options), onBatch)
  } catch (err) {
    throw listenError(err)
  }
  let flushQueued = false
  const flush = () => {
    flushQueued = false
    native.flush()
  }
  host = {
    native,
    logger,
    requests,
    scheduleFlush: () => {
      if (flushQueued) return
      flushQueued = true
      queueMicrotask(flush)
    },
  }
  const a = native.address
  const address: Address = a.kind === 'tcp' ? { type: 'tcp', host: a.host ?? '', port: a.port ?? 0 } : { type: 'unix', path: a.path ?? '' }

  return {
    address,
    stats: () => {
      const s = native.stats()
      return {
        connections: s.connections,
        connectionsTotal: s.connectionsTotal,
        requestsActive: s.requestsActive,
        requestsTotal: s.requestsTotal,
        errors: s.errors,
        aborts: s.aborts,
        bytesRead: s.bytesRead,
        bytesWritten: s.bytesWritten,
      }
    },
    close: (timeout) => {
      closedPromise ??= new Promise<void>((resolve) => {
        closed = resolve
        native.close(timeout)
      })
      return closedPromise
    },
  }
}

export function createNativeEngine(binding: NativeBinding): Engine {
  return {
    name: 'native',
    protocols: ['fcgi', 'http'],
    async serve(protocol, options, onExchange) {
      return serveNative(binding, protocol, options, onExchange)
    },
  }
}
