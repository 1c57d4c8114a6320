// The HTTP front end of `fcgi dev`: each browser request becomes a real FastCGI request to the
// app (the CGI params a front end like nginx sends), and the FastCGI response becomes the HTTP
// response, streamed both ways. What works here works behind nginx.
import http from 'node:http'
import type { ClientRequest } from '../client.ts'
import type { AppState } from './app-process.ts'

export function createFrontEnd(app: () => Promise<AppState>, log: (line: string) => void): http.Server {
  return http.createServer((req, res) => {
    forward(req, res, app, log).catch((err: Error) => {
      log(`${req.method} ${req.url}: ${err.message}`)
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`502 Bad Gateway (fcgi dev): ${err.message}\n`)
      else res.destroy()
    })
  })
}

async function forward(req: http.IncomingMessage, res: http.ServerResponse, app: () => Promise<AppState>, log: (line: string) => void): Promise<void> {
  const state = await app()
  if ('error' in state) {
    res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`502 Bad Gateway (fcgi dev): ${state.error}\n`)
    return
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value
  }
  // FastCGI needs CONTENT_LENGTH: a chunked upload is read whole first (nginx does the same)
  let body: ClientRequest['body']
  if (headers['content-length'] !== undefined) body = req
  else if (headers['transfer-encoding'] !== undefined) {
    const parts: Buffer[] = []
    for await (const chunk of req) parts.push(chunk as Buffer)
    body = Buffer.concat(parts)
    delete headers['transfer-encoding']
  }
  const local = req.socket.address() as { address?: string; port?: number }
  const abort = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) abort.abort()
  })
  const r = await state.client.stream({
    method: req.method,
    path: req.url,
    headers,
    body,
    signal: abort.signal,
    params: {
      SERVER_SOFTWARE: 'fcgi-dev',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_NAME: (headers.host ?? 'localhost').replace(/:\d+$/, ''),
      SERVER_ADDR: local.address ?? '',
      SERVER_PORT: String(local.port ?? ''),
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      REMOTE_PORT: String(req.socket.remotePort ?? ''),
      REQUEST_SCHEME: 'http',
    },
  })
  if (r.status === 0) throw new Error('the app ended the request without a response head')
  const grouped = new Map<string, string[]>()
  for (const [name, value] of r.rawHeaders) grouped.set(name, [...(grouped.get(name) ?? []), value])
  res.writeHead(r.status, Object.fromEntries(grouped))
  for await (const chunk of r.body) {
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve))
  }
  res.end()
  const end = await r.end
  if (end.stderr) log(`stderr of ${req.method} ${req.url}: ${end.stderr.trimEnd()}`)
}
