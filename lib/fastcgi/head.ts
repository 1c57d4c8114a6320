// The response head in CGI form (`Status: 200 OK` then the headers), and the short error answers
// the engines give on their own (431 params too large, 413 body too large).
import { STATUS_CODES } from 'node:http'
import type { ResponseHead } from '../engine.ts'

/** Bodies shorter than this share the head's STDOUT record; fcgi-proto's `INLINE_BODY_LIMIT`
 * (crates/fcgi-proto/src/response_head.rs), the same bytes on both engines. */
export const INLINE_BODY_LIMIT = 16384

export function statusLine(status: number): string {
  const reason = STATUS_CODES[status]
  return reason ? `${status} ${reason}` : String(status)
}

export function encodeCgiHead(head: ResponseHead): Buffer {
  let s = `Status: ${statusLine(head.status)}\r\n`
  for (const [name, value] of head.headers) s += `${name}: ${value}\r\n`
  return Buffer.from(s + '\r\n', 'latin1')
}

/** The whole CGI response for an error the engine answers itself, e.g. 431. */
export function cgiErrorResponse(status: number): Buffer {
  const body = `${STATUS_CODES[status] ?? 'Error'}\n`
  return Buffer.concat([
    encodeCgiHead({ status, headers: [['Content-Type', 'text/plain; charset=utf-8']] }),
    Buffer.from(body),
  ])
}
