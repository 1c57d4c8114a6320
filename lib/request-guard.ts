// Per-server request limits, applied above the engines so that both engines and both protocols
// answer alike:
// - `maxRequests`: requests in flight in this server (all connections). One more is answered
//   503 with `Retry-After: 1` without running the handler: nginx moves it to another host with
//   `fastcgi_next_upstream http_503`, HAProxy with `retry-on 503`, a browser or client retries.
// - `requestTimeout`: a response not ended this many milliseconds after dispatch is given up:
//   `req.signal` aborts (reason: a TimeoutError), the client gets 504 when no head went out yet,
//   else the response is cut (FastCGI END_REQUEST with app status 1, HTTP: the connection closes).
// With neither set, nothing here runs: dispatch uses the engine's sink and signal as they are.
import type { Exchange, ResponseSink } from './engine.ts'
import { exchangeMethod } from './request.ts'
import type { Logger } from './types.ts'

export interface RequestLimits {
  /** 0: no limit */
  maxRequests: number
  /** milliseconds; 0: none */
  requestTimeout: number
}

/** What dispatch uses instead of the exchange's own sink and signal for a guarded request. */
export interface Guarded {
  sink: ResponseSink
  /** the request's signal: the engine's, also aborted by the timeout */
  signal: AbortSignal
  /** called by dispatch with its 504-or-cut answer once the timeout fires */
  onTimeout: ((message: string) => void) | null
}

export class RequestGuard {
  private active = 0
  private readonly timeoutReason: string

  constructor(
    private readonly limits: RequestLimits,
    private readonly logger: Logger,
  ) {
    this.timeoutReason = `the handler did not end its response within requestTimeout (${limits.requestTimeout} ms)`
  }

  static wanted(limits: RequestLimits): boolean {
    return limits.maxRequests > 0 || limits.requestTimeout > 0
  }

  /** The request's guarded sink and signal, or null when it was refused (and answered 503). */
  admit(exchange: Exchange): Guarded | null {
    if (this.limits.maxRequests > 0 && this.active >= this.limits.maxRequests) {
      exchange.sink.send(OVERLOADED_HEAD, exchangeMethod(exchange) === 'HEAD' ? null : OVERLOADED_BODY, true)
      return null
    }
    this.active++
    const inner = exchange.sink
    let finished = false
    let timer: NodeJS.Timeout | null = null
    const finish = () => {
      if (finished) return
      finished = true
      this.active--
      if (timer) clearTimeout(timer)
    }
    const guarded: Guarded = {
      sink: {
        send(head, body, end) {
          if (end) finish()
          return inner.send(head, body, end)
        },
        drain: () => inner.drain(),
        stderr: (chunk) => inner.stderr(chunk),
        abort() {
          finish()
          inner.abort()
        },
      },
      signal: exchange.signal,
      onTimeout: null,
    }
    if (this.limits.requestTimeout > 0) {
      const controller = new AbortController()
      guarded.signal = AbortSignal.any([exchange.signal, controller.signal])
      timer = setTimeout(() => {
        if (finished) return
        this.logger('warn', this.timeoutReason)
        controller.abort(new DOMException(this.timeoutReason, 'TimeoutError'))
        guarded.onTimeout?.(this.timeoutReason)
      }, this.limits.requestTimeout)
      timer.unref()
    }
    return guarded
  }
}

const OVERLOADED_HEAD = { status: 503, headers: [['Content-Type', 'text/plain; charset=utf-8'], ['Retry-After', '1']] as [string, string][] }
const OVERLOADED_BODY = Buffer.from('Service Unavailable: too many requests in flight\n')
