// Opt-in operations around the dispatch path, one implementation for both engines and both
// protocols: each exchange is tracked from dispatch to the end of its response (through a
// wrapper around its ResponseSink), which feeds the access log, the slow-request log and the
// status page; the status path is answered here, before the user's handler. Nothing of this runs
// unless one of `status`, `accessLog`, `slowlog` is set.
import { performance } from 'node:perf_hooks'
import { dispatchTo } from '../dispatch.ts'
import type { Exchange, ExchangeHandler, ResponseSink } from '../engine.ts'
import { exchangeMethod, exchangeUrl } from '../request.ts'
import type { Logger, ServeOptions } from '../types.ts'
import { accessLogWriter, type AccessLogWriter } from './access-log.ts'
import { statusHandler, type ServerView } from './status.ts'

/** One request in flight (what `?full` lists) and, once it ends, the access log's entry. */
export interface RequestRecord {
  id: number
  method: string
  url: string
  remoteAddr: string
  contentLength: number
  startTime: Date
  /** performance.now() at dispatch. */
  start: number
  status: number
  bytes: number
}

export interface Operations {
  /** Wrap the dispatcher. */
  wrap(inner: ExchangeHandler): ExchangeHandler
  /** Known once the engine listens. */
  attach(server: ServerView): void
}

/** The counters the status page shows besides the engine's `stats()`. */
export interface Tracked {
  readonly startTime: Date
  readonly active: ReadonlySet<RequestRecord>
  readonly maxActive: number
  readonly slowRequests: number
}

/** null when no operations option is set: the dispatch path stays as it is. */
export function operations(options: ServeOptions, logger: Logger): Operations | null {
  const access = accessLogWriter(options.accessLog)
  const slowMs = slowThreshold(options.slowlog)
  const status = options.status === undefined ? null : statusOptions(options.status)
  if (!access && slowMs === null && !status) return null
  return new Observer(access, slowMs, status, logger)
}

class Observer implements Operations, Tracked {
  readonly startTime = new Date()
  readonly active = new Set<RequestRecord>()
  maxActive = 0
  slowRequests = 0
  private server: ServerView | null = null

  constructor(
    private readonly access: AccessLogWriter | null,
    private readonly slowMs: number | null,
    private readonly status: { path: string; pool: string } | null,
    private readonly logger: Logger,
  ) {}

  attach(server: ServerView): void {
    this.server = server
  }

  wrap(inner: ExchangeHandler): ExchangeHandler {
    const status = this.status
    const statusPage = status
      ? dispatchTo(statusHandler(status.pool, this, () => this.server), this.logger)
      : null
    return (exchange) => {
      const tracked = this.track(exchange)
      if (statusPage && pathOf(exchangeUrl(exchange)) === status!.path) statusPage(tracked)
      else inner(tracked)
    }
  }

  private track(exchange: Exchange): Exchange {
    const p = exchange.params
    const record: RequestRecord = {
      id: exchange.id,
      method: exchangeMethod(exchange),
      url: exchangeUrl(exchange),
      remoteAddr: p.REMOTE_ADDR ?? '',
      contentLength: Number(p.CONTENT_LENGTH) || 0,
      startTime: new Date(),
      start: performance.now(),
      status: 0,
      bytes: 0,
    }
    this.active.add(record)
    if (this.active.size > this.maxActive) this.maxActive = this.active.size
    let slowTimer: NodeJS.Timeout | null = null
    if (this.slowMs !== null) {
      const threshold = this.slowMs
      slowTimer = setTimeout(() => {
        slowTimer = null
        this.slowRequests++
        this.logger('warn', `slow request: "${record.method} ${record.url}" from ${record.remoteAddr || '-'} (request ${record.id}) still running after ${threshold} ms`)
      }, threshold)
      slowTimer.unref()
    }
    let ended = false
    const end = (aborted: boolean) => {
      if (ended) return
      ended = true
      this.active.delete(record)
      const durationMs = performance.now() - record.start
      if (slowTimer) clearTimeout(slowTimer)
      else if (this.slowMs !== null) {
        this.logger('warn', `slow request: "${record.method} ${record.url}" from ${record.remoteAddr || '-'} (request ${record.id}) ${aborted ? 'aborted' : `ended with status ${record.status}`} after ${Math.round(durationMs)} ms`)
      }
      this.access?.({
        time: record.startTime,
        remoteAddr: record.remoteAddr,
        remoteUser: p.REMOTE_USER ?? '',
        method: record.method,
        url: record.url,
        httpVersion: p.SERVER_PROTOCOL || 'HTTP/1.1',
        status: record.status,
        bytes: record.bytes,
        durationMs,
        referer: p.HTTP_REFERER ?? '',
        userAgent: p.HTTP_USER_AGENT ?? '',
        aborted,
      })
    }
    const signal = exchange.signal
    if (signal.aborted) queueMicrotask(() => end(true))
    else signal.addEventListener('abort', () => end(true), { once: true })
    const sink = exchange.sink
    const observed: ResponseSink = {
      send(head, body, last) {
        if (head) record.status = head.status
        if (body) record.bytes += body.length
        const ok = sink.send(head, body, last)
        if (last) end(false)
        return ok
      },
      drain: () => sink.drain(),
      stderr: (chunk) => sink.stderr(chunk),
      abort() {
        sink.abort()
        end(true)
      },
    }
    return {
      protocol: exchange.protocol,
      role: exchange.role,
      id: exchange.id,
      params: p,
      method: record.method,
      uri: record.url,
      stdin: exchange.stdin,
      data: exchange.data,
      signal,
      sink: observed,
    }
  }
}

function pathOf(url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function slowThreshold(option: ServeOptions['slowlog']): number | null {
  if (option === undefined) return null
  const ms = option?.thresholdMs
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 1) {
    throw new TypeError(`option slowlog.thresholdMs must be a number >= 1, got ${String(ms)}`)
  }
  return ms
}

function statusOptions(option: NonNullable<ServeOptions['status']>): { path: string; pool: string } {
  if (typeof option?.path !== 'string' || !option.path.startsWith('/')) {
    throw new TypeError(`option status.path must be a path starting with '/', got ${JSON.stringify(option?.path)}`)
  }
  return { path: option.path, pool: option.pool ?? 'www' }
}
