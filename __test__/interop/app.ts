// The application every interop suite puts behind a real front end. In-process suites build it
// with makeApp(name); lighttpd's `bin-path` and the CLI serve this module's default export
// (`fcgi serve __test__/interop/app.ts --listen fd:0`). Everything a test needs to observe goes
// over HTTP (e.g. /aborted), so it works the same in-process and in a spawned back end.
import { createHash } from 'node:crypto'
import type { FcgiRequest } from 'fcgi'
import type { Handler } from 'fcgi'

/** The 1 MiB /big response: a pattern, so a shifted or corrupted byte shows. */
export const BIG = Buffer.alloc(1024 * 1024)
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 12)) % 251

export const PROTECTED_MARKER = 'PROTECTED-CONTENT'

/** Authorizer decision, from `X-Auth` (any front end passes it) or a Basic user name. */
function authorizerToken(req: FcgiRequest): string {
  const h = req.headers
  if (h['x-auth']) return h['x-auth']
  const basic = /^Basic\s+(.+)$/i.exec(h.authorization ?? '')
  if (basic) return Buffer.from(basic[1], 'base64').toString().split(':')[0]
  return ''
}

export interface AppState {
  started: Set<string>
  aborted: Set<string>
  finished: Set<string>
}

export function makeApp(name: string): Handler & { state: AppState } {
  const state: AppState = { started: new Set(), aborted: new Set(), finished: new Set() }
  const handler: Handler = async (req, res) => {
    res.setHeader('X-Backend', name)
    if (req.role === 'authorizer') {
      const token = authorizerToken(req)
      if (token === 'alice') {
        res.setHeader('Variable-User', 'alice')
        res.setHeader('Variable-Auth-Level', 'admin')
        // not a Variable-*: the FastCGI spec says the server ignores it on a 200
        res.setHeader('X-Authorizer-Only', 'yes')
        res.end()
        return
      }
      if (token === 'throw') throw new Error('authorizer exploded')
      if (token === 'stderr') res.stderr('authorizer-stderr\n')
      res.status = 403
      res.setHeader('Content-Type', 'text/plain')
      res.end('denied by the authorizer\n')
      return
    }
    const u = new URL(req.url, 'http://x')
    const path = u.pathname.replace(/^\/protected(?=\/)/, '')
    switch (path) {
      case '/echo': {
        const body = await req.bytes()
        res.setHeader('Content-Type', 'application/octet-stream')
        res.setHeader('X-Sha256', createHash('sha256').update(body).digest('hex'))
        res.setHeader('X-Length', String(body.length))
        res.end(body)
        return
      }
      case '/big':
        res.setHeader('Content-Type', 'application/octet-stream')
        res.end(BIG)
        return
      case '/throw':
        throw new Error('handler exploded (expected by the interop test)')
      case '/stderr':
        res.stderr(`stderr-marker-${u.searchParams.get('m')}\n`)
        res.end('logged\n')
        return
      case '/params':
      case '/secret':
        res.setHeader('Content-Type', 'application/json')
        res.end(
          JSON.stringify({
            marker: path === '/secret' ? PROTECTED_MARKER : undefined,
            backend: name,
            role: req.role,
            method: req.method,
            url: req.url,
            query: req.params.QUERY_STRING ?? '',
            cookie: req.headers.cookie,
            custom: req.headers['x-custom'],
            params: req.params,
          }),
        )
        return
      case '/first': {
        // answers as soon as the first piece of the body is here, without reading the rest
        let first = 0
        for await (const chunk of req.stdin) {
          first = chunk.length
          break
        }
        res.setHeader('Content-Type', 'application/json')
        res.end(JSON.stringify({ first }))
        return
      }
      case '/stream-echo':
        // answers while the body is still arriving, chunk by chunk (full duplex)
        for await (const chunk of req.stdin) if (!res.write(chunk)) await res.drain()
        res.end()
        return
      case '/ignore-body':
        res.end('did not read\n')
        return
      case '/slow': {
        // waits until the request is aborted or `ms` pass; /aborted?id= tells what happened
        const id = u.searchParams.get('id') ?? ''
        const ms = Math.min(Number(u.searchParams.get('ms') ?? 5000), 30_000)
        state.started.add(id)
        const aborted = await new Promise<boolean>((resolve) => {
          if (req.signal.aborted) return resolve(true)
          const t = setTimeout(() => resolve(false), ms)
          req.signal.addEventListener('abort', () => {
            clearTimeout(t)
            resolve(true)
          })
        })
        if (aborted) {
          state.aborted.add(id)
          return
        }
        state.finished.add(id)
        res.end('slow done\n')
        return
      }
      case '/aborted': {
        const id = u.searchParams.get('id') ?? ''
        res.setHeader('Content-Type', 'application/json')
        res.end(JSON.stringify({ started: state.started.has(id), aborted: state.aborted.has(id), finished: state.finished.has(id) }))
        return
      }
      default:
        res.status = 404
        res.setHeader('Content-Type', 'text/plain')
        res.end('not found\n')
    }
  }
  return Object.assign(handler, { state })
}

export default makeApp(process.env.FCGI_INTEROP_APP_NAME ?? 'cli')
