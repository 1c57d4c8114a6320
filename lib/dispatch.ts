// Runs the user's handler for one exchange: builds the request/response objects, ends the
// response when the handler returns without ending it, turns a throw into a 500 (or a cut
// stream when the head already went out), and keeps the server serving either way.
import type { Exchange, ExchangeHandler } from './engine.ts'
import { FcgiRequest } from './request.ts'
import { FcgiResponse } from './response.ts'
import type { Handler, Logger } from './types.ts'

export function dispatchTo(handler: Handler, logger: Logger): ExchangeHandler {
  return (exchange: Exchange) => dispatch(handler, logger, exchange)
}

// No closure per request unless the handler returns a promise: under tsx every function created
// at run time also costs a name-keeping call, and a hello-world handler is synchronous.
function dispatch(handler: Handler, logger: Logger, exchange: Exchange): void {
  const req = new FcgiRequest(exchange)
  const res = new FcgiResponse(exchange.sink, req.method === 'HEAD')
  let result: unknown
  try {
    result = handler(req, res)
  } catch (err) {
    failResponse(exchange, req, res, err, logger)
    return
  }
  if (isPromiseLike(result)) {
    result.then(
      () => endOrFail(exchange, req, res, logger),
      (err: unknown) => failResponse(exchange, req, res, err, logger),
    )
  } else {
    endOrFail(exchange, req, res, logger)
  }
}

/** End the response the handler left open; that can throw too (an invalid `res.status` is found
 * when the head is built), which is then the handler's error. */
function endOrFail(exchange: Exchange, req: FcgiRequest, res: FcgiResponse, logger: Logger): void {
  try {
    res.end()
  } catch (err) {
    failResponse(exchange, req, res, err, logger)
  }
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function'
}

function failResponse(exchange: Exchange, req: FcgiRequest, res: FcgiResponse, err: unknown, logger: Logger): void {
  if (res.finished && !req.signal.aborted) {
    logger('error', `handler failed after the response ended (${req.method} ${req.url}): ${describe(err)}`)
    return
  }
  if (req.signal.aborted) return // the request is gone; its end was already handled
  logger('error', `handler failed (${req.method} ${req.url}): ${describe(err)}`)
  if (res.headersSent) {
    exchange.sink.abort()
    return
  }
  res.status = 500
  for (const name of ['content-type', 'content-length', 'location']) res.removeHeader(name)
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.end('Internal Server Error\n')
}

export function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err)
}
