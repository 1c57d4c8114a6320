// One FastCGI connection in the js engine: parses records, runs the requests multiplexed on it,
// frames their responses. The behaviour on every input is docs/protocol-behaviour.md.
import type { Socket } from 'node:net'
import { BodyStream } from '../../body.ts'
import type { Exchange, ResponseHead, ResponseSink } from '../../engine.ts'
import {
  FLAG_KEEP_CONN,
  ProtocolError,
  ProtocolStatus,
  RecordParser,
  type RecordView,
  Type,
  decodePairs,
  encodePairs,
  endRequestBody,
  pushRecord,
  pushStream,
} from '../../fastcgi/codec.ts'
import { cgiErrorResponse, encodeCgiHead, INLINE_BODY_LIMIT } from '../../fastcgi/head.ts'
import type { Role } from '../../types.ts'
import type { ConnectionHost } from './connection-host.ts'

const ROLES: Record<number, Role> = { 1: 'responder', 2: 'authorizer', 3: 'filter' }
const LINGER_MS = 2000

class ActiveRequest {
  readonly stdin = new BodyStream()
  readonly data = new BodyStream()
  /** Created on first use: most handlers never look at req.signal, and it costs per request. */
  private controller: AbortController | null = null
  params: Buffer[] = []
  paramsBytes = 0
  dispatched = false
  stdinBytes = 0
  stderrUsed = false
  headSent = false
  paused = false
  timer: NodeJS.Timeout | null = null

  constructor(
    readonly id: number,
    readonly role: Role,
    readonly keepConn: boolean,
  ) {}

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal
  }

  abort(err: Error): void {
    this.controller ??= new AbortController()
    this.controller.abort(err)
  }
}

export class FcgiConnection {
  private readonly parser = new RecordParser()
  private readonly requests = new Map<number, ActiveRequest>()
  private pausedCount = 0
  private lingering = false
  /** A request without FCGI_KEEP_CONN finished: close once the others are done. */
  private closeWhenIdle = false
  private draining = false
  closed = false

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    /** Accepted past maxConns: every request is answered FCGI_OVERLOADED. */
    private readonly overloaded: boolean,
  ) {
    socket.setNoDelay?.(true)
    socket.setTimeout(host.options.idleTimeout)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('end', () => this.onEnd())
    socket.on('timeout', () => this.onIdle())
    socket.on('error', (err) => {
      if (!this.lingering) host.log('info', `connection error: ${err.message}`)
    })
    socket.on('close', () => this.onClose())
  }

  get activeRequests(): number {
    return this.requests.size
  }

  private onData(chunk: Buffer): void {
    this.host.stats.bytesRead += chunk.length
    if (this.lingering || this.closed) return
    try {
      this.parser.feed(chunk, (rec) => {
        this.handle(rec)
        return !(this.closed || this.lingering)
      })
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      this.fatal(err.message)
    }
  }

  private handle(rec: RecordView): void {
    switch (rec.type) {
      case Type.BeginRequest:
        return this.begin(rec)
      case Type.AbortRequest:
      case Type.Params:
      case Type.Stdin:
      case Type.Data: {
        if (rec.id === 0) throw new ProtocolError(`record type ${rec.type} with request id 0`)
        const req = this.requests.get(rec.id)
        if (!req) return // not active (or already answered): ignored
        if (rec.type === Type.AbortRequest) return this.abortRequest(req, 'FCGI_ABORT_REQUEST')
        if (rec.type === Type.Params) return this.params(req, rec.content)
        return this.body(req, rec.type === Type.Stdin ? req.stdin : req.data, rec.content)
      }
      case Type.GetValues:
        if (rec.id !== 0) throw new ProtocolError('FCGI_GET_VALUES with a request id')
        return this.getValues(rec.content)
      case Type.EndRequest:
      case Type.Stdout:
      case Type.Stderr:
      case Type.GetValuesResult:
      case Type.UnknownType:
        throw new ProtocolError(`record type ${rec.type} is only sent by applications`)
      default: {
        const body = Buffer.alloc(8)
        body[0] = rec.type
        this.writeRecords((out) => pushRecord(out, Type.UnknownType, 0, body))
      }
    }
  }

  private begin(rec: RecordView): void {
    if (rec.id === 0 || rec.content.length < 8) throw new ProtocolError('malformed FCGI_BEGIN_REQUEST')
    if (this.requests.has(rec.id)) throw new ProtocolError(`FCGI_BEGIN_REQUEST for active request ${rec.id}`)
    const role = ROLES[rec.content.readUInt16BE(0)]
    const keepConn = (rec.content[2] & FLAG_KEEP_CONN) !== 0
    let status: ProtocolStatus | null = null
    if (!role) status = ProtocolStatus.UnknownRole
    else if (this.overloaded || this.requests.size >= this.host.options.maxReqs) status = ProtocolStatus.Overloaded
    if (status !== null) {
      this.host.stats.errors++
      this.writeRecords((out) => {
        // lighttpd ignores the protocol status of an Authorizer's answer and allows the request
        // unless the answer carries a non-200 Status: refuse explicitly (lighttpd and Apache
        // then answer the client 503).
        if (role === 'authorizer') {
          pushStream(out, Type.Stdout, rec.id, cgiErrorResponse(503))
          pushRecord(out, Type.Stdout, rec.id, Buffer.alloc(0))
        }
        pushRecord(out, Type.EndRequest, rec.id, endRequestBody(0, status))
      })
      // a connection past maxConns never takes a request: close it after the answer, keep-conn
      // or not (docs/protocol-behaviour.md: HAProxy acts on an output-less answer only then)
      if (!keepConn || this.overloaded) this.closeWhenIdle = true
      this.maybeClose()
      return
    }
    const req = new ActiveRequest(rec.id, role, keepConn)
    req.timer = setTimeout(() => {
      this.host.log('warn', `request ${req.id}: params not complete after ${this.host.options.paramsTimeout} ms, closing the connection`)
      this.host.stats.errors++
      this.destroy()
    }, this.host.options.paramsTimeout)
    // streams a role does not have are empty from the start; their records are dropped
    if (role !== 'filter') req.data.end()
    if (role === 'authorizer') req.stdin.end()
    this.requests.set(rec.id, req)
  }

  private params(req: ActiveRequest, content: Buffer): void {
    if (req.dispatched) return // params after their end: ignored
    if (content.length > 0) {
      req.paramsBytes += content.length
      if (req.paramsBytes > this.host.options.maxParamsBytes) return this.reject(req, 431, 'params larger than maxParamsBytes')
      req.params.push(Buffer.from(content))
      return
    }
    const pairs = decodePairs(Buffer.concat(req.params), this.host.options.maxParams)
    if (pairs === 'limit') return this.reject(req, 431, 'more params than maxParams')
    req.params = []
    req.dispatched = true
    if (req.timer) clearTimeout(req.timer)
    req.timer = null
    this.host.stats.requestsTotal++
    this.host.stats.requestsActive++
    this.host.onExchange(this.exchange(req, pairs))
  }

  private body(req: ActiveRequest, stream: BodyStream, content: Buffer): void {
    if (content.length === 0) return stream.end()
    if (stream.isEnded) return // a stream this role does not have, or one already complete
    if (stream === req.stdin) {
      req.stdinBytes += content.length
      if (req.stdinBytes > this.host.options.maxBodyBytes) return this.reject(req, 413, 'body larger than maxBodyBytes')
    }
    // the parser's views point into a buffer reused for the next read: keep a copy
    if (!stream.push(Buffer.from(content)) && !req.paused) {
      req.paused = true
      if (this.pausedCount++ === 0) this.socket.pause()
      stream.onDrain = () => this.unpause(req)
    }
  }

  private unpause(req: ActiveRequest): void {
    if (!req.paused) return
    req.paused = false
    if (--this.pausedCount === 0 && !this.closed) this.socket.resume()
  }

  /** The engine answers for itself (431, 413): abort the handler if one runs, send the error. */
  private reject(req: ActiveRequest, status: number, why: string): void {
    this.host.log('warn', `request ${req.id}: ${why}, answered ${status}`)
    this.host.stats.errors++
    this.signalAbort(req, why)
    if (req.headSent) return this.finish(req, 1)
    this.writeRecords((out) => pushStream(out, Type.Stdout, req.id, cgiErrorResponse(status)))
    req.headSent = true
    this.finish(req, 0)
  }

  private abortRequest(req: ActiveRequest, why: string): void {
    if (req.dispatched) this.host.stats.aborts++
    this.signalAbort(req, why)
    this.finish(req, 1)
  }

  /** The handler learns the request is gone: its signal aborts, its streams fail. */
  private signalAbort(req: ActiveRequest, why: string): void {
    const err = new Error(`request aborted: ${why}`)
    req.abort(err)
    req.stdin.fail(err)
    req.data.fail(err)
  }

  private getValues(content: Buffer): void {
    const asked = decodePairs(content)
    if (asked === 'limit') return
    const known: Record<string, string> = {
      FCGI_MAX_CONNS: String(this.host.options.maxConns),
      FCGI_MAX_REQS: String(this.host.options.maxReqs),
      FCGI_MPXS_CONNS: '1',
    }
    const answer: [string, string][] = Object.keys(asked)
      .filter((name) => Object.hasOwn(known, name))
      .map((name) => [name, known[name]])
    this.writeRecords((out) => pushRecord(out, Type.GetValuesResult, 0, encodePairs(answer)))
  }

  private exchange(req: ActiveRequest, params: Record<string, string>): Exchange {
    const sink: ResponseSink = {
      send: (head, body, end) => this.send(req, head, body, end),
      drain: () => this.drain(),
      stderr: (chunk) => {
        if (this.requests.get(req.id) !== req || chunk.length === 0) return
        req.stderrUsed = true
        this.writeRecords((out) => pushStream(out, Type.Stderr, req.id, chunk))
      },
      abort: () => {
        if (this.requests.get(req.id) !== req) return
        this.host.stats.errors++
        this.signalAbort(req, 'response cut after a handler error')
        this.finish(req, 1)
      },
    }
    return {
      protocol: 'fcgi',
      role: req.role,
      id: req.id,
      params,
      stdin: req.stdin,
      data: req.data,
      get signal() {
        return req.signal
      },
      sink,
    }
  }

  private send(req: ActiveRequest, head: ResponseHead | null, body: Uint8Array | null, end: boolean): boolean {
    if (this.requests.get(req.id) !== req) return true // aborted or cut: the response goes nowhere
    let ok = true
    if (head || body) {
      ok = this.writeRecords((out) => {
        if (head) {
          req.headSent = true
          const h = encodeCgiHead(head)
          // small bodies share the head's record
          if (body && body.length < INLINE_BODY_LIMIT) pushStream(out, Type.Stdout, req.id, Buffer.concat([h, body]))
          else {
            pushStream(out, Type.Stdout, req.id, h)
            if (body) pushStream(out, Type.Stdout, req.id, body)
          }
        } else if (body) pushStream(out, Type.Stdout, req.id, body)
      })
    }
    if (end) this.finish(req, 0)
    return ok
  }

  private drain(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.on('drain', done)
      this.socket.on('close', done)
    })
  }

  /** Terminate the streams, send END_REQUEST, free the id. */
  private finish(req: ActiveRequest, appStatus: number): void {
    if (this.requests.get(req.id) !== req) return
    this.requests.delete(req.id)
    if (req.timer) clearTimeout(req.timer)
    if (req.paused) this.unpause(req)
    req.stdin.discard() // the rest of the body, if any comes, is dropped
    req.data.discard()
    if (req.dispatched) this.host.stats.requestsActive--
    this.writeRecords((out) => {
      pushRecord(out, Type.Stdout, req.id, Buffer.alloc(0))
      if (req.stderrUsed) pushRecord(out, Type.Stderr, req.id, Buffer.alloc(0))
      pushRecord(out, Type.EndRequest, req.id, endRequestBody(appStatus, ProtocolStatus.RequestComplete))
    })
    if (!req.keepConn) this.closeWhenIdle = true
    this.maybeClose()
  }

  private writeRecords(build: (out: Buffer[]) => void): boolean {
    if (this.closed || this.lingering || this.socket.writableEnded) return true
    const out: Buffer[] = []
    build(out)
    let bytes = 0
    for (const b of out) bytes += b.length
    this.host.stats.bytesWritten += bytes
    if (out.length === 1) return this.socket.write(out[0])
    this.socket.cork()
    let ok = true
    for (const b of out) ok = this.socket.write(b)
    this.socket.uncork()
    return ok
  }

  /** Close when asked to and nothing is running any more. */
  private maybeClose(): void {
    if (this.requests.size > 0 || !(this.closeWhenIdle || this.draining)) return
    this.linger()
  }

  /** Half-close and read the rest, so a front end still sending never sees an RST. */
  private linger(): void {
    if (this.lingering || this.closed) return
    this.lingering = true
    this.socket.setTimeout(0)
    this.socket.end()
    this.socket.resume()
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  /** Server shutdown: close now if idle, else after the running requests. */
  drainForClose(): void {
    this.draining = true
    this.maybeClose()
  }

  /** Forced close: abort whatever still runs. */
  destroy(): void {
    if (this.closed) return
    this.abortAll('connection closed')
    this.socket.destroy()
  }

  private fatal(why: string): void {
    this.host.log('warn', `protocol error, closing the connection: ${why}`)
    this.host.stats.errors++
    this.destroy()
  }

  private onEnd(): void {
    if (this.lingering) {
      this.socket.destroy()
      return
    }
    if (this.parser.midRecord) this.host.log('info', 'connection closed in the middle of a record')
    this.destroy()
  }

  private onIdle(): void {
    if (this.requests.size > 0) return
    this.host.log('info', `idle connection closed after ${this.host.options.idleTimeout} ms`)
    this.linger()
  }

  private abortAll(why: string): void {
    for (const req of [...this.requests.values()]) {
      if (req.dispatched) this.host.stats.aborts++
      this.signalAbort(req, why)
      if (req.timer) clearTimeout(req.timer)
      if (req.dispatched) this.host.stats.requestsActive--
      this.requests.delete(req.id)
    }
  }

  private onClose(): void {
    this.abortAll('connection lost')
    this.closed = true
    this.host.connectionClosed(this)
  }
}
