// A real `http.IncomingMessage` for one exchange: method, url, headers and the HTTP version from
// the CGI params, the body pulled from `req.stdin` only as fast as the app reads it (a body
// parser, multer, a pipe), so the engine's backpressure reaches the front end.
import { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FcgiRequest } from '../request.ts'
import type { ExchangeSocket } from './socket.ts'

/** An IncomingMessage for `req`. `_read` is an own property, not a subclass method: Express
 * re-parents `req` onto its own prototype (derived from IncomingMessage.prototype). */
export function exchangeRequest(req: FcgiRequest, socket: ExchangeSocket): IncomingMessage {
  // The stub is not a net.Socket; IncomingMessage only keeps it and reads the fields it has.
  const msg = new IncomingMessage(socket as unknown as Socket)
  msg.method = req.method
  msg.url = req.url
  const version = /^HTTP\/(\d)\.(\d)$/.exec(req.params.SERVER_PROTOCOL ?? '')
  msg.httpVersionMajor = version ? Number(version[1]) : 1
  msg.httpVersionMinor = version ? Number(version[2]) : 1
  msg.httpVersion = `${msg.httpVersionMajor}.${msg.httpVersionMinor}`
  const headers = req.headers
  msg.headers = { ...headers }
  msg.rawHeaders = Object.entries(headers).flat()

  const body = req.stdin[Symbol.asyncIterator]()
  let pulling = false
  /** Push chunks until the readable buffer is full (push returns false) or the body ends. */
  const pull = async (): Promise<void> => {
    try {
      for (;;) {
        const { value, done } = await body.next()
        if (msg.destroyed) return
        if (done) {
          msg.complete = true
          msg.push(null)
          return
        }
        if (!msg.push(value)) return
      }
    } catch (err) {
      // the body will never complete (abort, limit): as under node:http, the request errors
      msg.destroy(err instanceof Error ? err : new Error(String(err)))
    }
  }
  msg._read = () => {
    ;(msg as unknown as { _consuming: boolean })._consuming = true // node:http's "the app reads the body"
    if (pulling) return
    pulling = true
    pull().finally(() => (pulling = false))
  }
  return msg
}
