// One handler module, unchanged, through serveFcgi behind a real nginx and through serveHttp:
// the responses must be the same.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import echo from '../../examples/echo.ts'
import { serveFcgi, serveHttp } from 'fcgi'
import type { Server } from 'fcgi'
import { forEachEngine } from '../helpers/engines.ts'
import { tempSocketPath } from '../helpers/server.ts'
import { missing, type FrontEnd } from './harness.ts'
import { startNginx } from './nginx.ts'

const skip = missing('nginx')

interface Seen {
  status: number
  headers: Record<string, string>
  body: string
}

async function get(port: number, path: string, init: RequestInit = {}): Promise<Seen> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init)
  const headers: Record<string, string> = {}
  for (const name of ['content-type', 'x-body-length', 'x-body-sha256']) {
    const v = res.headers.get(name)
    if (v !== null) headers[name] = v
  }
  const cookies = res.headers.getSetCookie()
  if (cookies.length) headers['set-cookie'] = cookies.join(' | ')
  return { status: res.status, headers, body: await res.text() }
}

forEachEngine('the same module over FastCGI (nginx) and HTTP', (engine) => {
  let fcgi: Server
  let http: Server
  let nginx: FrontEnd
  before(async () => {
    if (skip) return
    fcgi = await serveFcgi({ engine, handler: echo, listen: tempSocketPath(), logger: () => {} })
    http = await serveHttp({ engine: 'auto', handler: echo, listen: 0, logger: () => {} })
    nginx = await startNginx({ backend: (fcgi.address as { path: string }).path, keepConn: true })
  })
  after(async () => {
    await nginx?.stop()
    await fcgi?.close()
    await http?.close()
  })

  const requests: [string, RequestInit][] = [
    ['/?a=1&b=two', {}],
    ['/json?x=y', { headers: { 'X-Custom': 'c', Cookie: 'k=v' } }],
    ['/echo', { method: 'POST', body: 'x'.repeat(100_000), headers: { 'Content-Type': 'text/plain' } }],
    ['/missing', {}],
  ]
  for (const [path, init] of requests) {
    test(`${init.method ?? 'GET'} ${path}`, { skip: skip ?? false }, async () => {
      const viaNginx = await get(nginx.port, path, init)
      const direct = await get((http.address as { port: number }).port, path, init)
      assert.deepEqual(viaNginx, direct)
    })
  }
})
