// The response object handed to handlers. It knows nothing of the protocol: the head and body go
// to the engine's ResponseSink, which frames them (CGI head + STDOUT records, or HTTP/1.1).
import type { ResponseHead, ResponseSink } from './engine.ts'

type HeaderValue = string | number | readonly string[]

export class FcgiResponse {
  /** Status code sent with the head. Default 200. */
  status = 200
  private readonly headerMap = new Map<string, [string, string[]]>()
  private sent = false
  private done = false

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

  setHeader(name: string, value: HeaderValue): this {
    if (this.sent) throw new Error('cannot set headers after they are sent')
    const values = Array.isArray(value) ? value.map(String) : [String(value)]
    for (const v of values) {
      if (/[\r\n]/.test(v) || /[\r\n:]/.test(name)) throw new Error(`invalid header ${JSON.stringify(name)}`)
    }
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

  /** Set the status and headers at once; they go out with the first write or end. */
  writeHead(status: number, headers?: Record<string, HeaderValue> | [string, string][]): this {
    this.status = status
    if (headers) {
      const entries = Array.isArray(headers) ? headers : Object.entries(headers)
      for (const [name, value] of entries) this.setHeader(name, value)
    }
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
    this.done = true
    this.sink.send(this.takeHead(), chunk === undefined ? null : this.body(chunk), true)
  }

  /** FastCGI: FCGI_STDERR (the front end's error log). HTTP: the server's log. */
  stderr(chunk: string | Uint8Array): void {
    this.sink.stderr(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  }

  private takeHead(): ResponseHead | null {
    if (this.sent) return null
    this.sent = true
    const headers: [string, string][] = []
    for (const [name, values] of this.headerMap.values()) {
      for (const v of values) headers.push([name, v])
    }
    return { status: this.status, headers }
  }

  private body(chunk: string | Uint8Array): Uint8Array | null {
    if (this.headOnly) return null
    if (typeof chunk === 'string') return chunk.length ? Buffer.from(chunk) : null
    return chunk.length ? chunk : null
  }
}
