// The request object handed to handlers: the same shape over FastCGI and HTTP.
import type { BodyStream } from './body.ts'
import type { Exchange } from './engine.ts'
import type { Role } from './types.ts'

export class FcgiRequest {
  readonly role: Role
  readonly id: number
  /** The body, streamed. Read it once: iterate, or call bytes()/text()/json(). */
  readonly stdin: BodyStream
  /** The Filter role's FCGI_DATA stream; empty for other roles. */
  readonly data: BodyStream
  private readonly exchange: Exchange
  /** the request guard's signal (the engine's, also aborted by requestTimeout), if any */
  private readonly guardSignal: AbortSignal | undefined
  private headerCache: Record<string, string> | null = null

  /** @internal the engines create requests; handlers receive them */
  constructor(exchange: Exchange, signal?: AbortSignal) {
    this.exchange = exchange
    this.guardSignal = signal
    this.role = exchange.role
    this.id = exchange.id
    this.stdin = exchange.stdin
    this.data = exchange.data
  }

  /** Aborted on FCGI_ABORT_REQUEST, connection loss or a forced close. A getter: engines may
   * create the AbortController only when a handler asks for it (it costs per request). */
  get signal(): AbortSignal {
    return this.guardSignal ?? this.exchange.signal
  }

  /** CGI meta-variables (FastCGI params; synthesized from the request over HTTP). */
  get params(): Record<string, string> {
    return this.exchange.params
  }

  get method(): string {
    return exchangeMethod(this.exchange)
  }

  /** REQUEST_URI, or SCRIPT_NAME + PATH_INFO + QUERY_STRING where the front end sends no URI. */
  get url(): string {
    return exchangeUrl(this.exchange)
  }

  /** Request headers, lower-case names, from HTTP_* plus CONTENT_TYPE and CONTENT_LENGTH. */
  get headers(): Record<string, string> {
    if (this.headerCache) return this.headerCache
    const headers: Record<string, string> = {}
    const p = this.params
    for (const name in p) {
      if (name.startsWith('HTTP_')) {
        headers[name.slice(5).toLowerCase().replaceAll('_', '-')] = p[name]
      }
    }
    if (p.CONTENT_TYPE) headers['content-type'] = p.CONTENT_TYPE
    if (p.CONTENT_LENGTH) headers['content-length'] = p.CONTENT_LENGTH
    this.headerCache = headers
    return headers
  }

  bytes(): Promise<Buffer> {
    return this.stdin.bytes()
  }

  async text(): Promise<string> {
    return (await this.stdin.bytes()).toString('utf8')
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text())
  }
}

export function exchangeMethod(exchange: Exchange): string {
  return exchange.method ?? (exchange.params.REQUEST_METHOD || 'GET')
}

export function exchangeUrl(exchange: Exchange): string {
  if (exchange.uri !== undefined) return exchange.uri
  const p = exchange.params
  if (p.REQUEST_URI) return p.REQUEST_URI
  const path = (p.SCRIPT_NAME ?? '') + (p.PATH_INFO ?? '') || '/'
  return p.QUERY_STRING ? `${path}?${p.QUERY_STRING}` : path
}
