// The response object handed to handlers. It knows nothing of the protocol: the head and body go
// to the engine's ResponseSink, which frames them (CGI head + STDOUT records, or HTTP/1.1).
import type { ResponseHead, ResponseSink } from './engine.ts'

export type HeaderValue = string | number | readonly string[]

// node:http's rules for what may go into a response head, so a handler behaves the same here as
// under node:http: a header name is an RFC 9110 token; a value is latin1 text without control
// characters other than tab (this also keeps CR/LF out: no header injection); a status is an
// integer from 100 to 999. Anything else would be mangled on the wire (a character above U+00FF
// loses its high byte), so it throws instead, and a handler's bug becomes a 500.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/

function invalid(error: TypeError | RangeError, code: string): never {
  throw Object.assign(error, { code })
}

/** The header's values as strings, or a TypeError naming the header. */
function headerValues(name: string, value: HeaderValue): string[] {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    invalid(new TypeError(`Header name must be a valid HTTP token [${JSON.stringify(name)}]`), 'ERR_INVALID_HTTP_TOKEN')
  }
  const values = Array.isArray(value) ? value.map(String) : [String(value)]
  for (const v of values) {
    if (INVALID_VALUE_CHAR.test(v)) {
      invalid(
        new TypeError(`Invalid character in header content [${JSON.stringify(name)}] (a value is latin1 text: characters up to U+00FF, no control characters but tab)`),
        'ERR_INVALID_CHAR',
      )
    }
  }
  return values
}

/** The status as an integer from 100 to 999 (numeric strings are accepted, as node:http does). */
function statusCode(status: unknown): number {
  const code = typeof status === 'number' ? status : typeof status === 'string' && status.trim() !== '' ? Number(status) : NaN
  if (!Number.isInteger(code) || code < 100 || code > 999) {
    invalid(new RangeError(`Invalid status code: ${typeof status === 'string' ? JSON.stringify(status) : String(status)}`), 'ERR_HTTP_INVALID_STATUS_CODE')
  }
  return code
}

export class FcgiResponse {
  /** Status code sent with the head. Default 200. */
  status = 200
  private readonly headerMap = new Map<string, [string, string[]]>()
  private sent = false
  private done = false

  /** @internal the engines create responses; handlers receive them */
  constructor(
    private readonly sink: ResponseSink,
    /** HEAD requests: the head goes out, a body never does. */
    private readonly headOnly = false,
  ) {}

  get headersSent(): boolean {
    return this.sent
  }

  /** True once `end()` ran (or the library ended the response). */
  get finished(): boolean {
    return this.done
  }

  /** Throws a TypeError naming the header when the name is not a token or a value holds a
   * character outside latin1 or a control character other than tab (node:http's rules). */
  setHeader(name: string, value: HeaderValue): this {
    if (this.sent) throw new Error('cannot set headers after they are sent')
    const values = headerValues(name, value)
    this.headerMap.set(name.toLowerCase(), [name, values])
    return this
  }

  getHeader(name: string): string[] | undefined {
    return this.headerMap.get(name.toLowerCase())?.[1]
  }

  hasHeader(name: string): boolean {
    return this.headerMap.has(name.toLowerCase())
  }

  removeHeader(name: string): void {
    if (this.sent) throw new Error('cannot remove headers after they are sent')
    this.headerMap.delete(name.toLowerCase())
  }

  /** Set the status and headers at once; they go out with the first write or end. Checked as
   * `setHeader` checks (and the status: an integer from 100 to 999, else a RangeError) before
   * anything is set, so a throw leaves the response as it was. */
  writeHead(status: number, headers?: Record<string, HeaderValue> | [string, string][]): this {
    const code = statusCode(status)
    const checked: [string, string[]][] = []
    if (headers) {
      const entries = Array.isArray(headers) ? headers : Object.entries(headers)
      if (this.sent && entries.length) throw new Error('cannot set headers after they are sent')
      for (const [name, value] of entries) checked.push([name, headerValues(name, value)])
    }
    this.status = code
    for (const [name, values] of checked) this.headerMap.set(name.toLowerCase(), [name, values])
    return this
  }

  /** Write a body chunk. Returns false under backpressure: `await res.drain()` before more. */
  write(chunk: string | Uint8Array): boolean {
    if (this.done) throw new Error('write after end')
    return this.sink.send(this.takeHead(), this.body(chunk), false)
  }

  /** Resolves when the engine can take more body. */
  drain(): Promise<void> {
    return this.sink.drain()
  }

  /** Finish the response, optionally with a last chunk. Calling it twice does nothing. */
  end(chunk?: string | Uint8Array): void {
    if (this.done) return
    const head = this.takeHead() // may throw (an invalid `status`): the response is then not ended
    this.done = true
    this.sink.send(head, chunk === undefined ? null : this.body(chunk), true)
  }

  /** FastCGI: FCGI_STDERR (the front end's error log). HTTP: the server's log. */
  stderr(chunk: string | Uint8Array): void {
    this.sink.stderr(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  }

  private takeHead(): ResponseHead | null {
    if (this.sent) return null
    const status = statusCode(this.status) // `res.status = x` is not checked when assigned
    this.sent = true
    const headers: [string, string][] = []
    for (const [name, values] of this.headerMap.values()) {
      for (const v of values) headers.push([name, v])
    }
    return { status, headers }
  }

  private body(chunk: string | Uint8Array): Uint8Array | null {
    if (this.headOnly) return null
    if (typeof chunk === 'string') return chunk.length ? Buffer.from(chunk) : null
    return chunk.length ? chunk : null
  }
}
