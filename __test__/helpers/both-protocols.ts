// One handler served over FastCGI (asked through FcgiClient) or HTTP (asked through fetch), with
// one way to call it, so framework tests assert the same answers over both protocols.
import http from 'node:http'
import type { EngineName } from 'fcgi'
import { startFcgi, startHttp, type App, type ServeExtras } from './server.ts'

export type Protocol = 'fcgi' | 'http'
export const PROTOCOLS: readonly Protocol[] = ['fcgi', 'http']

export interface Call {
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  signal?: AbortSignal
}

export interface Answer {
  status: number
  /** Lower-case names; repeated headers joined with ', ' (Set-Cookie apart: see `cookies`). */
  headers: Record<string, string>
  cookies: string[]
  body: Buffer
  text: string
}

export interface Served {
  call(req: Call): Promise<Answer>
  logs: string[]
  close(): Promise<void>
}

export async function serveBoth(
  protocol: Protocol,
  engine: EngineName,
  handler: App,
  limits: ServeExtras & { transport?: 'unix' | 'tcp' } = {},
): Promise<Served> {
  if (protocol === 'fcgi') {
    const t = await startFcgi(engine, handler, limits)
    return {
      logs: t.logs,
      close: () => t.close(),
      async call(req) {
        const r = await t.client.request({ method: req.method ?? 'GET', path: req.path, headers: req.headers, body: req.body, signal: req.signal })
        const cookies = r.rawHeaders.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v)
        return { status: r.status, headers: r.headers, cookies, body: r.body, text: r.body.toString('utf8') }
      },
    }
  }
  const { transport: _tcpAnyway, ...extras } = limits
  const t = await startHttp(engine, handler, extras)
  return {
    logs: t.logs,
    close: () => t.close(),
    call: (req) => httpCall(t.port, req),
  }
}

/** node:http as the client: unlike fetch it sends headers as given (Host, conditional requests
 * without an added Cache-Control) and follows no redirects. */
function httpCall(port: number, req: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method: req.method ?? 'GET', path: req.path, headers: req.headers, signal: req.signal ?? AbortSignal.timeout(10_000) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(res.headers)) {
          if (name !== 'set-cookie' && value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
        }
        const body = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers, cookies: res.headers['set-cookie'] ?? [], body, text: body.toString('utf8') })
      })
    })
    r.on('error', reject)
    r.end(req.body)
  })
}

/** A multipart/form-data body and its Content-Type, as a browser would send it. */
export async function multipart(form: FormData): Promise<{ body: Uint8Array; contentType: string }> {
  const r = new Response(form)
  return { body: new Uint8Array(await r.arrayBuffer()), contentType: r.headers.get('content-type')! }
}
