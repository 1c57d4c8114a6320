// End to end through a real nginx from Debian on loopback, with upstream keepalive +
// fastcgi_keep_conn on, and off. Both engines, unix socket and TCP.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { after, before, test, describe } from 'node:test'
import { serveFcgi } from '../../lib/index.ts'
import type { Handler, Server } from '../../lib/types.ts'
import { forEachEngine } from '../helpers/engines.ts'
import { tempSocketPath } from '../helpers/server.ts'
import { missing, type FrontEnd } from './harness.ts'
import { startNginx } from './nginx.ts'

const app: Handler = async (req, res) => {
  const u = new URL(req.url, 'http://x')
  switch (u.pathname) {
    case '/echo': {
      const body = await req.bytes()
      res.setHeader('Content-Type', 'application/octet-stream')
      res.setHeader('X-Sha256', createHash('sha256').update(body).digest('hex'))
      res.end(body)
      return
    }
    case '/big':
      res.end(Buffer.alloc(1024 * 1024, 'b'))
      return
    case '/throw':
      throw new Error('handler exploded')
    case '/stderr':
      res.stderr(`stderr-marker-${u.searchParams.get('m')}\n`)
      res.end('logged')
      return
    case '/params':
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({ method: req.method, url: req.url, query: req.params.QUERY_STRING, cookie: req.headers.cookie, custom: req.headers['x-custom'] }))
      return
    case '/ignore-body':
      res.end('did not read')
      return
    default:
      res.status = 404
      res.end('not found')
  }
}

interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function http(port: number, path: string, opts: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

const skip = missing('nginx')

forEachEngine('nginx interop', (engine) => {
  for (const transport of ['unix', 'tcp'] as const) {
    for (const keepConn of [true, false]) {
      describe(`${transport}, fastcgi_keep_conn ${keepConn ? 'on' : 'off'}`, { skip: skip ?? false }, () => {
        let server: Server
        let nginx: FrontEnd
        before(async () => {
          server = await serveFcgi({ engine, handler: app, listen: transport === 'unix' ? tempSocketPath() : 0, logger: () => {} })
          const a = server.address
          nginx = await startNginx({ backend: a.type === 'unix' ? a.path : `127.0.0.1:${a.port}`, keepConn })
        })
        after(async () => {
          await nginx?.stop()
          await server?.close({ timeout: 1000 })
        })

        test('GET with a query string, CGI params, headers, cookies', async () => {
          const r = await http(nginx.port, '/params?a=1&b=two', { headers: { Cookie: 'c=3', 'X-Custom': 'hi' } })
          assert.equal(r.status, 200)
          assert.deepEqual(JSON.parse(r.body.toString()), { method: 'GET', url: '/params?a=1&b=two', query: 'a=1&b=two', cookie: 'c=3', custom: 'hi' })
        })

        test('POST 1 MiB echoed exactly', async () => {
          const body = Buffer.alloc(1024 * 1024)
          for (let i = 0; i < body.length; i++) body[i] = i % 251
          const r = await http(nginx.port, '/echo', { method: 'POST', body })
          assert.equal(r.status, 200)
          assert.equal(r.headers['x-sha256'], createHash('sha256').update(body).digest('hex'))
          assert.ok(r.body.equals(body))
        })

        test('10 MiB posted to a handler that never reads it, then the next request works', async () => {
          const r = await http(nginx.port, '/ignore-body', { method: 'POST', body: Buffer.alloc(10 * 1024 * 1024, 1) })
          assert.equal(r.status, 200)
          assert.equal(r.body.toString(), 'did not read')
          assert.equal((await http(nginx.port, '/params')).status, 200)
        })

        test('1 MiB response, a 404, a 500 from a throwing handler', async () => {
          const big = await http(nginx.port, '/big')
          assert.equal(big.body.length, 1024 * 1024)
          assert.equal((await http(nginx.port, '/nope')).status, 404)
          const err = await http(nginx.port, '/throw')
          assert.equal(err.status, 500)
          assert.equal((await http(nginx.port, '/params')).status, 200)
        })

        test('HEAD gets no body; stderr lands in the error log', async () => {
          const h = await http(nginx.port, '/big', { method: 'HEAD' })
          assert.equal(h.status, 200)
          assert.equal(h.body.length, 0)
          const marker = `${engine}-${transport}-${keepConn}`
          await http(nginx.port, `/stderr?m=${marker}`)
          await new Promise((r) => setTimeout(r, 100))
          assert.match(nginx.errorLog(), new RegExp(`stderr-marker-${marker}`))
        })

        test('50 parallel requests; connections reused only with keep_conn on', async () => {
          const before = server.stats().connectionsTotal
          const results = await Promise.all(Array.from({ length: 50 }, (_, i) => http(nginx.port, `/params?i=${i}`)))
          assert.ok(results.every((r) => r.status === 200))
          for (let i = 0; i < 20; i++) assert.equal((await http(nginx.port, '/params')).status, 200)
          const opened = server.stats().connectionsTotal - before
          if (keepConn) assert.ok(opened <= 50, `opened ${opened} connections for 70 requests`)
          else assert.equal(opened, 70)
          assert.doesNotMatch(nginx.errorLog(), /upstream prematurely closed|recv\(\) failed|reset by peer/)
        })
      })
    }
  }
})

if (skip) test(`nginx interop skipped: ${skip}`, { skip })
