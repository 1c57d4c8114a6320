// Run a node:http request listener — `(req, res) => void`: an Express app, Koa's
// `app.callback()`, what `http.createServer` takes — as a Handler, over FastCGI and HTTP alike.
// The listener gets a real `http.IncomingMessage` and `http.ServerResponse` (see request.ts and
// response.ts); the handler's promise settles when the response finished or the request was
// aborted, so the dispatcher neither ends the response early nor waits forever.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Handler } from '../types.ts'
import { exchangeRequest } from './request.ts'
import { exchangeResponse } from './response.ts'
import { ExchangeSocket } from './socket.ts'

/** What `http.createServer` takes. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown

/** Adapt a node:http request listener (Express, Koa's `app.callback()`, …) to a Handler. */
export function nodeHandler(listener: NodeListener): Handler {
  if (typeof listener !== 'function') throw new TypeError('nodeHandler takes a (req, res) request listener')
  return (req, res) =>
    new Promise<void>((resolve, reject) => {
      const socket = new ExchangeSocket(req.params)
      const nreq = exchangeRequest(req, socket)
      const nres = exchangeResponse(nreq, res, socket)
      nres.done.then(resolve)
      // The app destroyed the response or request before it finished: cut it (a 500 when no
      // head went out yet), as a socket error would under node:http.
      socket.onDestroy = (err) => {
        if (!nres.writableEnded) reject(err ?? new Error('the app destroyed the response before it ended'))
      }
      const onAbort = () => {
        // as node:http when the client goes: 'aborted' and an ECONNRESET on the request (only to
        // its 'error' listeners), 'close' on both
        const err = Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
        socket.onDestroy = null
        nreq.destroy(err)
        socket.destroy()
        resolve()
      }
      if (req.signal.aborted) return onAbort()
      req.signal.addEventListener('abort', onAbort, { once: true })
      nres.once('close', () => req.signal.removeEventListener('abort', onAbort))
      let result: unknown
      try {
        result = listener(nreq, nres)
      } catch (err) {
        reject(err)
        return
      }
      // an async listener's rejection is an error of this request, not an unhandled rejection
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        ;(result as PromiseLike<unknown>).then(undefined, reject)
      }
    })
}
