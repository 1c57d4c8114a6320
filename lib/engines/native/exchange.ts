// One request of the native engine: the Exchange handed to the API layer and its ResponseSink,
// which answers through one synchronous native call per response part.
import { BodyStream } from '../../body.ts'
import type { Exchange, Protocol, ResponseHead, ResponseSink } from '../../engine.ts'
import { decodeAsciiPairs, decodePairs, findAsciiParams } from '../../fastcgi/codec.ts'
import type { Logger, Role } from '../../types.ts'
import type { NativeServerHandle } from './binding.ts'

const EMPTY = Buffer.alloc(0)
/** Bodies from this size on go to `sendHeld` (measured: a 1 MiB body costs a copy otherwise). */
const HOLD_MIN = 32 * 1024

/** What an exchange needs from its server. */
export interface ServerHost {
  native: NativeServerHandle
  logger: Logger
  requests: Map<number, NativeExchange>
  /** Output was queued: wake the connections once, after this wave of responses. */
  scheduleFlush(): void
}

/** The headers as they cross (crates/fcgi-node/src/head.rs): one latin1 string, each name and
 * value followed by a NUL, which no valid header holds (lib/response.ts checks them); one
 * string is one N-API call where a list took one per string. */
function headerFields(head: ResponseHead): string {
  let fields = ''
  for (const [name, value] of head.headers) fields += name + '\0' + value + '\0'
  return fields
}

/** The binding takes Buffers: a Uint8Array is viewed as one, not copied. */
function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)
}

export class NativeExchange implements Exchange, ResponseSink {
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
  private methodAndUri: [method: string | undefined, uri: string | undefined] | null = null

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
    return (this.methodAndUri ??= findAsciiParams(this.raw, 'REQUEST_METHOD', 'REQUEST_URI'))[0]
  }

  /** REQUEST_URI without building `params`, as `method` (one walk finds both: the API reads
   * `method` for every request and most handlers read `url`). */
  get uri(): string | undefined {
    if (this.decoded || !this.ascii) return this.decoded?.REQUEST_URI || undefined
    return (this.methodAndUri ??= findAsciiParams(this.raw, 'REQUEST_METHOD', 'REQUEST_URI'))[1]
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

  /** HTTP: the client sent its FIN after the whole request. The signal aborts, but the response
   * can still go out (a client that only half-closed gets it), then the connection closes. */
  clientGone(): void {
    if (!this.done) this.abortSignal(new Error('request aborted: client connection closed'))
  }

  /** The Rust side ended the request (abort record, body limit, connection gone). */
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
    const status = head ? head.status : null
    const headers = head ? headerFields(head) : null
    // a large body is held by the native side until written instead of copied (see
    // crates/fcgi-node/src/output.rs); below HOLD_MIN the copy is cheaper than the reference
    const ok =
      body !== null && body.length >= HOLD_MIN
        ? this.host.native.sendHeld(this.handle, status, headers, asBuffer(body), end)
        : this.host.native.send(this.handle, status, headers, body === null ? null : asBuffer(body), end)
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
      this.host.logger('info', `stderr: ${asBuffer(chunk).toString().trimEnd()}`)
      return
    }
    this.host.native.stderr(this.handle, asBuffer(chunk))
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
