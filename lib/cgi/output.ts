// CGI output (RFC 3875 section 6): a header block, a blank line, then the body. Shared by
// `fastcgi()` (a script writing to `stdout`), `fcgi cgi` (a real CGI program's stdout) and the
// FastCGI client (an application's FCGI_STDOUT). Bytes arrive in any split; the head is found,
// parsed and applied to the response, and the body streams on with backpressure.
import type { FcgiResponse } from '../response.ts'

/** The longest header block taken before the output counts as having no header. */
export const MAX_HEAD_BYTES = 64 * 1024

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export class CgiOutputError extends Error {}

/** Where the header block ends: `head` is its length, `body` where the body starts. The first
 * blank line ends it, written as `\r\n\r\n` or `\n\n` (RFC 3875 allows either newline). */
export function findHeadEnd(buf: Buffer): { head: number; body: number } | null {
  const crlf = buf.indexOf('\r\n\r\n')
  const lf = buf.indexOf('\n\n')
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { head: crlf, body: crlf + 4 }
  if (lf >= 0) return { head: lf, body: lf + 2 }
  return null
}

/** The header lines as name/value pairs, in order; `bad` lists the lines that are not
 * `name: value` with a token name. */
export function splitHeaderLines(text: string): { fields: [string, string][]; bad: string[] } {
  const fields: [string, string][] = []
  const bad: string[] = []
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    const name = colon > 0 ? line.slice(0, colon) : ''
    if (!TOKEN.test(name)) {
      if (line !== '') bad.push(line)
      continue
    }
    fields.push([name, line.slice(colon + 1).trim()])
  }
  return { fields, bad }
}

export interface CgiHead {
  status: number
  /** Response headers in order, without Status (and without Location for a local redirect). */
  headers: [string, string][]
  /** RFC 3875 6.2.2: `Location: /path` and no Status: the server answers the request as if it
   * had been made for that path (re-dispatch), the output's body is dropped. */
  localRedirect: string | null
}

/** Parse a header block (RFC 3875 6.3). `Status: 404 Not Found` sets the status (default 200);
 * a `Location` that is an absolute URL and no Status is a client redirect (302); a `Location`
 * starting with `/` and no Status is a local redirect. Header names match in any case. */
export function parseCgiHead(text: string): CgiHead {
  const { fields, bad } = splitHeaderLines(text)
  if (bad.length) throw new CgiOutputError(`malformed header line ${JSON.stringify(bad[0].slice(0, 80))}`)
  let status: number | null = null
  let location: string | null = null
  const headers: [string, string][] = []
  for (const [name, value] of fields) {
    const key = name.toLowerCase()
    if (key === 'status') {
      const m = /^(\d{3})(?:\s.*)?$/.exec(value)
      if (!m || Number(m[1]) < 100) throw new CgiOutputError(`bad Status header ${JSON.stringify(value)}`)
      status = Number(m[1])
      continue
    }
    if (key === 'location') location = value
    headers.push([name, value])
  }
  if (location !== null && status === null) {
    if (location.startsWith('/')) {
      return { status: 200, headers: headers.filter(([n]) => n.toLowerCase() !== 'location'), localRedirect: location }
    }
    status = 302
  }
  return { status: status ?? 200, headers, localRedirect: null }
}

export type CgiOutcome = { kind: 'response' } | { kind: 'local-redirect'; location: string }

/** Feeds raw CGI output into a response: collects the header block, applies it, then streams
 * the body (write() resolves once the response can take more). A local redirect drops the rest
 * of the output; `end()` says which it was, or throws when the output never held a header. */
export class CgiResponder {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private head: CgiHead | null = null

  constructor(private readonly res: FcgiResponse) {}

  /** True once the header block was parsed (and, unless it redirects locally, sent on). */
  get hasHead(): boolean {
    return this.head !== null
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.head) {
      if (this.head.localRedirect === null && chunk.length && !this.res.write(chunk)) await this.res.drain()
      return
    }
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    const all = Buffer.concat(this.pending)
    const split = findHeadEnd(all)
    if (!split) {
      if (this.pendingBytes > MAX_HEAD_BYTES) throw new CgiOutputError(`no end of the header block in the first ${MAX_HEAD_BYTES} bytes`)
      this.pending = [all]
      return
    }
    this.pending = []
    this.head = parseCgiHead(all.subarray(0, split.head).toString('latin1'))
    if (this.head.localRedirect !== null) return
    applyHead(this.res, this.head)
    await this.write(all.subarray(split.body))
  }

  /** The output is complete. */
  end(): CgiOutcome {
    if (!this.head) {
      throw new CgiOutputError(this.pendingBytes ? 'the output ended inside the header block (no blank line after the headers)' : 'no output at all')
    }
    if (this.head.localRedirect !== null) return { kind: 'local-redirect', location: this.head.localRedirect }
    return { kind: 'response' }
  }
}

/** Status and headers onto the response; a header the output repeats (Set-Cookie) keeps every
 * value. Invalid values throw as `setHeader` does. */
function applyHead(res: FcgiResponse, head: CgiHead): void {
  const grouped = new Map<string, [string, string[]]>()
  for (const [name, value] of head.headers) {
    const key = name.toLowerCase()
    const entry = grouped.get(key)
    if (entry) entry[1].push(value)
    else grouped.set(key, [name, [value]])
  }
  res.status = head.status
  for (const [name, values] of grouped.values()) res.setHeader(name, values)
}

/** The request as the server re-dispatches it for a local redirect (RFC 3875 6.2.2): a GET of
 * the new path with no body; the original URI is kept in REDIRECT_URL (as Apache does). */
export function localRedirectEnv(env: Record<string, string>, location: string): Record<string, string> {
  const q = location.indexOf('?')
  const path = q >= 0 ? location.slice(0, q) : location
  const next: Record<string, string> = { ...env }
  delete next.CONTENT_LENGTH
  delete next.CONTENT_TYPE
  next.REQUEST_METHOD = 'GET'
  next.REQUEST_URI = location
  next.DOCUMENT_URI = path
  next.QUERY_STRING = q >= 0 ? location.slice(q + 1) : ''
  next.REDIRECT_URL = env.REQUEST_URI ?? ''
  next.REDIRECT_STATUS = '200'
  return next
}

/** How many local redirects one request may follow (Apache's LimitInternalRecursion default). */
export const MAX_LOCAL_REDIRECTS = 10

/** Run a request, and again for each local redirect it answers with (up to the limit, then an
 * error): the first run gets the request's body, the others none. */
export async function followLocalRedirects(
  env: Record<string, string>,
  body: AsyncIterable<Buffer>,
  run: (env: Record<string, string>, body: AsyncIterable<Buffer>) => Promise<CgiOutcome>,
): Promise<void> {
  for (let hops = 0; ; hops++) {
    const outcome = await run(env, body)
    if (outcome.kind === 'response') return
    if (hops === MAX_LOCAL_REDIRECTS) throw new Error(`more than ${MAX_LOCAL_REDIRECTS} local redirects (last: ${outcome.location})`)
    env = localRedirectEnv(env, outcome.location)
    body = emptyBody()
  }
}

async function* emptyBody(): AsyncGenerator<Buffer> {}
