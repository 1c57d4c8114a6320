// Runs the user's handler for one exchange: builds the request/response objects, ends the
// response when the handler returns without ending it, turns a throw into a 500 (or a cut
// stream when the head already went out), and keeps the server serving either way. With
// `maxRequests` or `requestTimeout` set, each request passes a RequestGuard first.
import type { Exchange, ExchangeHandler, ResponseSink } from './engine.ts'
import { FcgiRequest } from './request.ts'
import { RequestGuard, type Guarded, type RequestLimits } from './request-guard.ts'
import { FcgiResponse } from './response.ts'
import type { Handler, Logger } from './types.ts'

export function dispatchTo(handler: Handler, logger: Logger, limits?: RequestLimits): ExchangeHandler {
  if (!limits || !RequestGuard.wanted(limits)) return (exchange: Exchange) => dispatch(handler, logger, exchange, null)
  const guard = new RequestGuard(limits, logger)
  return (exchange: Exchange) => {
    const guarded = guard.admit(exchange)
    if (guarded) dispatch(handler, logger, exchange, guarded)
  }
}

// No closure per request unless the handler returns a promise: under tsx every function created
// at run time also costs a name-keeping call, and a hello-world handler is synchronous.
function dispatch(handler: Handler, logger: Logger, exchange: Exchange, guarded: Guarded | null): void {
  const sink = guarded ? guarded.sink : exchange.sink
  const req = new FcgiRequest(exchange, guarded?.signal)
  const res = new FcgiResponse(sink, req.method === 'HEAD')
  if (guarded) guarded.onTimeout = () => giveUp(sink, res)
  let result: unknown
  try {
    result = handler(req, res)
  } catch (err) {
    failResponse(sink, req, res, err, logger)
    return
  }
  if (isPromiseLike(result)) {
    result.then(
      () => endOrFail(sink, req, res, logger),
      (err: unknown) => failResponse(sink, req, res, err, logger),
    )
  } else {
    endOrFail(sink, req, res, logger)
  }
}

/** requestTimeout passed: 504 when no head went out yet, else the response is cut. What the
 * handler writes afterwards is dropped (its signal is aborted, so its errors are not logged). */
function giveUp(sink: ResponseSink, res: FcgiResponse): void {
  if (res.finished) return
  if (res.headersSent) {
    sink.abort()
    return
  }
  answerInstead(res, 504, 'Gateway Timeout: the handler did not answer in time\n')
}

/** End the response the handler left open; that can throw too (an invalid `res.status` is found
 * when the head is built), which is then the handler's error. */
function endOrFail(sink: ResponseSink, req: FcgiRequest, res: FcgiResponse, logger: Logger): void {
  try {
    res.end()
  } catch (err) {
    failResponse(sink, req, res, err, logger)
  }
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function'
}

function failResponse(sink: ResponseSink, req: FcgiRequest, res: FcgiResponse, err: unknown, logger: Logger): void {
  if (res.finished && !req.signal.aborted) {
    logger('error', `handler failed after the response ended (${req.method} ${req.url}): ${describe(err)}`)
    return
  }
  if (req.signal.aborted) return // the request is gone; its end was already handled
  logger('error', `handler failed (${req.method} ${req.url}): ${describe(err)}`)
  if (res.headersSent) {
    sink.abort()
    return
  }
  answerInstead(res, 500, 'Internal Server Error\n')
}

/** Replace the handler's unsent answer with a short plain-text one. */
function answerInstead(res: FcgiResponse, status: number, text: string): void {
  res.status = status
  for (const name of ['content-type', 'content-length', 'location']) res.removeHeader(name)
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.end(text)
}

export function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err)
}
