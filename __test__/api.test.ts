// The public API over real sockets, through the library's own FastCGI client, on both engines.
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { Hono } from 'hono'
import { FcgiClient, serveFcgi } from 'fcgi'
import type { Handler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { startFcgi, tempSocketPath } from './helpers/server.ts'

forEachEngine('request and response API', (engine) => {
  test('request fields: role, id, params, method, url, headers, body helpers', async () => {
    const t = await startFcgi(engine, async (req, res) => {
      const body = (await req.json()) as { n: number }
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({
        role: req.role,
        id: req.id,
        method: req.method,
        url: req.url,
        ua: req.headers['user-agent'],
        ct: req.headers['content-type'],
        cookie: req.headers.cookie,
        custom: req.headers['x-custom-thing'],
        param: req.params.SERVER_SOFTWARE,
        n: body.n,
      }))
    })
    try {
      const res = await t.client.request({
        method: 'PUT',
        path: '/p/a/t/h?x=1&y=2',
        headers: { 'User-Agent': 'test-agent', 'Content-Type': 'application/json', Cookie: 'a=1; b=2', 'X-Custom-Thing': 'yes' },
        body: JSON.stringify({ n: 42 }),
      })
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-type'], 'application/json')
      assert.deepEqual(JSON.parse(res.body.toString()), {
        role: 'responder', id: 1, method: 'PUT', url: '/p/a/t/h?x=1&y=2', ua: 'test-agent',
        ct: 'application/json', cookie: 'a=1; b=2', custom: 'yes', param: 'fcgi-client', n: 42,
      })
    } finally {
      await t.close()
    }
  })

  test('url falls back to SCRIPT_NAME + PATH_INFO + QUERY_STRING without REQUEST_URI', async () => {
    const t = await startFcgi(engine, (req, res) => res.end(req.url))
    try {
      const res = await t.client.request({ params: { REQUEST_URI: '', SCRIPT_NAME: '/app', PATH_INFO: '/x', QUERY_STRING: 'q=1' } })
      assert.equal(res.body.toString(), '/app/x?q=1')
    } finally {
      await t.close()
    }
  })

  test('status, setHeader with arrays, writeHead, write + end, Set-Cookie twice', async () => {
    const t = await startFcgi(engine, (req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2'])
      res.writeHead(201, { 'X-One': '1', 'X-Num': 5 })
      assert.equal(res.write('first,'), true)
      res.write(Buffer.from('second,'))
      res.end('last')
    })
    try {
      const res = await t.client.request({ path: '/' })
      assert.equal(res.status, 201)
      assert.deepEqual(res.rawHeaders.filter(([n]) => n === 'Set-Cookie'), [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']])
      assert.equal(res.headers['x-one'], '1')
      assert.equal(res.headers['x-num'], '5')
      assert.equal(res.body.toString(), 'first,second,last')
    } finally {
      await t.close()
    }
  })

  test('a header or status that cannot go on the wire is a TypeError/RangeError naming it: 500, the server goes on; latin1 is byte-exact', async () => {
    const caught: unknown[] = []
    const t = await startFcgi(engine, (req, res) => {
      try {
        if (req.url === '/value') res.setHeader('X-A', '€')
        if (req.url === '/array') res.setHeader('X-Arr', ['ok', 'a€'])
        if (req.url === '/write-head') res.writeHead(201, { 'X-B': 'x\u2028y' })
        if (req.url === '/name') res.setHeader('X-€', 'v')
        if (req.url === '/control') res.setHeader('X-C', 'a\x00b')
      } catch (err) {
        caught.push(err)
        throw err
      }
      if (req.url === '/status') res.status = 1000 // found when the head is built, by the auto end()
      else if (req.url === '/latin1') res.setHeader('X-A', 'café\tÿ')
      else res.end('fine')
    })
    try {
      for (const path of ['/value', '/array', '/write-head', '/name', '/control', '/status']) {
        const res = await t.client.request({ path })
        assert.equal(res.status, 500, path)
        assert.equal(res.body.toString(), 'Internal Server Error\n', path)
        assert.equal(res.appStatus, 0, path)
        assert.deepEqual(res.rawHeaders.map(([n]) => n), ['Content-Type'], `${path}: nothing of the bad call went out`)
        assert.equal((await t.client.request({ path: '/next' })).body.toString(), 'fine', `served after ${path}`)
      }
      assert.deepEqual(caught.map((e) => [(e as Error).constructor.name, (e as { code: string }).code, /\[".*"\]/.exec((e as Error).message)?.[0]]), [
        ['TypeError', 'ERR_INVALID_CHAR', '["X-A"]'],
        ['TypeError', 'ERR_INVALID_CHAR', '["X-Arr"]'],
        ['TypeError', 'ERR_INVALID_CHAR', '["X-B"]'],
        ['TypeError', 'ERR_INVALID_HTTP_TOKEN', '["X-€"]'],
        ['TypeError', 'ERR_INVALID_CHAR', '["X-C"]'],
      ])
      assert.ok(t.logs.some((l) => l.includes('Invalid status code: 1000')), t.logs.join('\n'))
      const ok = await t.client.request({ path: '/latin1' })
      assert.equal(ok.status, 200)
      // the client reads the head as latin1: one byte per character, 0xE9 for é
      assert.deepEqual([...Buffer.from(ok.headers['x-a'], 'latin1')], [0x63, 0x61, 0x66, 0xe9, 0x09, 0xff])
    } finally {
      await t.close()
    }
  })

  test('a handler that resolves without end() gets its response ended', async () => {
    const t = await startFcgi(engine, async (_req, res) => {
      res.status = 404
      res.write('not here')
    })
    try {
      const res = await t.client.request({ path: '/' })
      assert.equal(res.status, 404)
      assert.equal(res.body.toString(), 'not here')
      assert.equal(res.appStatus, 0)
    } finally {
      await t.close()
    }
  })

  test('HEAD never carries a body', async () => {
    const t = await startFcgi(engine, (_req, res) => {
      res.setHeader('Content-Length', '5')
      res.end('hello')
    })
    try {
      const res = await t.client.request({ method: 'HEAD', path: '/' })
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-length'], '5')
      assert.equal(res.body.length, 0)
    } finally {
      await t.close()
    }
  })

  test('res.stderr reaches the client as FCGI_STDERR', async () => {
    const t = await startFcgi(engine, (_req, res) => {
      res.stderr('warning: something\n')
      res.end('ok')
    })
    try {
      const res = await t.client.request({ path: '/' })
      assert.equal(res.stderr, 'warning: something\n')
    } finally {
      await t.close()
    }
  })

  test('write() reports backpressure and drain() resolves', async () => {
    let sawFalse = false
    const t = await startFcgi(engine, async (_req, res) => {
      const chunk = Buffer.alloc(1 << 20, 'z')
      for (let i = 0; i < 64; i++) {
        if (!res.write(chunk)) {
          sawFalse = true
          await res.drain()
        }
      }
      res.end()
    })
    try {
      const res = await t.client.stream({ path: '/' })
      let n = 0
      for await (const c of res.body) {
        n += c.length
        await new Promise((r) => setImmediate(r))
      }
      assert.equal(n, 64 << 20)
      assert.equal(sawFalse, true, 'write returned false at least once')
    } finally {
      await t.close()
    }
  })

  test('stats() counts connections, requests and bytes', async () => {
    const t = await startFcgi(engine, (_req, res) => res.end('x'))
    try {
      for (let i = 0; i < 3; i++) await t.client.request({ path: '/' })
      const s = t.server.stats()
      assert.equal(s.requestsTotal, 3)
      assert.equal(s.requestsActive, 0)
      assert.equal(s.connections, 1)
      assert.equal(s.connectionsTotal, 1)
      assert.ok(s.bytesRead > 0 && s.bytesWritten > 0)
      assert.equal(typeof s.errors, 'number')
      assert.equal(typeof s.aborts, 'number')
    } finally {
      await t.close()
    }
  })

  test('client abort mid-request: req.signal aborts, stats count it, the server keeps serving', async () => {
    let aborted!: () => void
    const sawAbort = new Promise<void>((r) => (aborted = r))
    const t = await startFcgi(engine, async (req, res) => {
      if (req.url === '/hang') {
        req.signal.addEventListener('abort', () => aborted())
        await new Promise((r) => setTimeout(r, 10_000).unref())
      }
      res.end('fine')
    })
    try {
      const ctl = new AbortController()
      const pending = t.client.request({ path: '/hang', signal: ctl.signal })
      await new Promise((r) => setTimeout(r, 100))
      ctl.abort()
      const res = await pending
      assert.equal(res.appStatus, 1)
      await sawAbort
      // connection loss aborts too
      const other = new FcgiClient(t.server.address)
      const lost = other.request({ path: '/hang' }).catch((e: Error) => e)
      await new Promise((r) => setTimeout(r, 100))
      other.close()
      assert.ok((await lost) instanceof Error)
      await waitFor(() => t.server.stats().aborts >= 2)
      assert.equal((await t.client.request({ path: '/x' })).body.toString(), 'fine')
    } finally {
      await t.close()
    }
  })
})

forEachEngine('fetch style', (engine) => {
  test('serveFcgi({ fetch }) with a WHATWG Request and Response, streamed body', async () => {
    const server = await serveFcgi({
      engine,
      listen: tempSocketPath(),
      logger: () => {},
      fetch: async (request, ctx) => {
        const text = await request.text()
        const u = new URL(request.url)
        const body = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(`${request.method} ${u.pathname}${u.search} host=${u.host} `))
            c.enqueue(new TextEncoder().encode(`body=${text} role=${ctx.role} sw=${ctx.params.SERVER_SOFTWARE}`))
            c.close()
          },
        })
        const headers = new Headers({ 'content-type': 'text/plain' })
        headers.append('set-cookie', 'x=1')
        headers.append('set-cookie', 'y=2')
        return new Response(body, { status: 202, headers })
      },
    })
    const client = new FcgiClient(server.address)
    try {
      const res = await client.request({ method: 'POST', path: '/f?z=1', headers: { Host: 'example.org' }, body: 'data' })
      assert.equal(res.status, 202)
      assert.equal(res.body.toString(), 'POST /f?z=1 host=example.org body=data role=responder sw=fcgi-client')
      assert.deepEqual(res.rawHeaders.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v), ['x=1', 'y=2'])
    } finally {
      client.close()
      await server.close()
    }
  })

  test('a real Hono app served over FastCGI', async () => {
    const app = new Hono()
    app.get('/hello/:name', (c) => c.text(`Hello ${c.req.param('name')}`))
    app.post('/json', async (c) => c.json({ got: await c.req.json() }, 201))
    app.notFound((c) => c.text('nope', 404))
    const server = await serveFcgi({ engine, listen: tempSocketPath(), fetch: app.fetch, logger: () => {} })
    const client = new FcgiClient(server.address)
    try {
      const a = await client.request({ path: '/hello/world' })
      assert.equal(a.status, 200)
      assert.equal(a.body.toString(), 'Hello world')
      const b = await client.request({ method: 'POST', path: '/json', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' })
      assert.equal(b.status, 201)
      assert.deepEqual(JSON.parse(b.body.toString()), { got: { a: 1 } })
      const c = await client.request({ path: '/missing' })
      assert.equal(c.status, 404)
    } finally {
      client.close()
      await server.close()
    }
  })

  test('fetch: Headers refuse non-latin1 values (500); latin1 values are byte-exact; Response.error() is a 500', async () => {
    assert.throws(() => new Headers({ 'X-A': '€' }), TypeError)
    const server = await serveFcgi({
      engine,
      listen: tempSocketPath(),
      logger: () => {},
      fetch: (request) => {
        const path = new URL(request.url).pathname
        if (path === '/euro') return new Response('x', { headers: { 'X-A': '€' } })
        if (path === '/error') return Response.error()
        return new Response('x', { headers: { 'X-A': 'café' } })
      },
    })
    const client = new FcgiClient(server.address)
    try {
      assert.equal((await client.request({ path: '/euro' })).status, 500)
      assert.equal((await client.request({ path: '/error' })).status, 500)
      const ok = await client.request({ path: '/cafe' })
      assert.equal(ok.status, 200)
      assert.deepEqual([...Buffer.from(ok.headers['x-a'], 'latin1')], [0x63, 0x61, 0x66, 0xe9])
    } finally {
      client.close()
      await server.close()
    }
  })

  test('a fetch handler that throws gets 500', async () => {
    const server = await serveFcgi({ engine, listen: tempSocketPath(), fetch: () => { throw new Error('fetch boom') }, logger: () => {} })
    const client = new FcgiClient(server.address)
    try {
      assert.equal((await client.request({ path: '/' })).status, 500)
    } finally {
      client.close()
      await server.close()
    }
  })
})

forEachEngine('listen, engine and close', (engine) => {
  const hello: Handler = (_req, res) => res.end('hi')

  test('listen on a unix path, a port, host:port and [::1]:port', async () => {
    const path = tempSocketPath()
    const targets = [path, `unix:${tempSocketPath()}`, 0, '127.0.0.1:0']
    if (await ipv6Available()) targets.push('[::1]:0')
    for (const listen of targets) {
      const server = await serveFcgi({ engine, listen, handler: hello, logger: () => {} })
      assert.equal(server.engine, engine)
      const client = new FcgiClient(server.address)
      assert.equal((await client.request()).body.toString(), 'hi', `listen ${listen}`)
      if (typeof listen === 'string' && !listen.includes(':0')) assert.equal(server.address.type, 'unix')
      else assert.equal(server.address.type, 'tcp')
      client.close()
      await server.close()
    }
  })

  test('a stale socket file is replaced; a live one is refused', async () => {
    const path = tempSocketPath()
    // a stale unix socket: bound by a process that was killed before it could unlink it
    const child = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
    assert.equal(child.signal, 'SIGKILL')
    assert.ok(existsSync(path))
    const a = await serveFcgi({ engine, listen: path, handler: hello, logger: () => {} })
    await assert.rejects(serveFcgi({ engine, listen: path, handler: hello, logger: () => {} }), /listening/)
    await a.close()
    const file = tempSocketPath('plain-file')
    writeFileSync(file, 'x')
    await assert.rejects(serveFcgi({ engine, listen: file, handler: hello, logger: () => {} }), /not a socket/)
  })

  test('close() is graceful: in-flight requests finish, new connections are refused', async () => {
    const t = await startFcgi(engine, async (_req, res) => {
      await new Promise((r) => setTimeout(r, 300))
      res.end('finished')
    })
    const inflight = t.client.request({ path: '/' })
    await new Promise((r) => setTimeout(r, 50))
    const closing = t.server.close()
    const res = await inflight
    assert.equal(res.body.toString(), 'finished')
    await closing
    await assert.rejects(new FcgiClient(t.server.address).request(), /ECONNREFUSED|ENOENT/)
  })

  test('close({ timeout }) aborts requests that do not finish', async () => {
    let signalled = false
    const t = await startFcgi(engine, async (req) => {
      req.signal.addEventListener('abort', () => (signalled = true))
      await new Promise((r) => setTimeout(r, 5000).unref())
    })
    const inflight = t.client.request({ path: '/' }).catch((e: Error) => e)
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    await t.server.close({ timeout: 200 })
    assert.ok(Date.now() - started < 2000)
    assert.equal(signalled, true)
    assert.ok((await inflight) instanceof Error)
  })
})

test('options are validated with clear errors', async () => {
  await assert.rejects(serveFcgi({} as never), /exactly one of `handler` or `fetch`/)
  await assert.rejects(serveFcgi({ handler: () => {}, fetch: () => new Response() } as never), /exactly one/)
  await assert.rejects(serveFcgi({ handler: () => {}, maxReqs: -1 }), /maxReqs/)
  await assert.rejects(serveFcgi({ handler: () => {}, engine: 'turbo' as never, listen: 0 }), /engine/)
})

test("engine 'js' is used when asked; 'auto' reports the engine it chose", async () => {
  const js = await serveFcgi({ engine: 'js', listen: 0, handler: (_q, r) => r.end() })
  assert.equal(js.engine, 'js')
  await js.close()
  const auto = await serveFcgi({ listen: 0, handler: (_q, r) => r.end() })
  assert.ok(auto.engine === 'native' || auto.engine === 'js')
  await auto.close()
})

async function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(0, '::1', () => s.close(() => resolve(true)))
  })
}

async function waitFor(pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
