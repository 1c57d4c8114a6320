// nodeHandler with Koa (app.callback(), @koa/router, @koa/bodyparser) and with a bare
// http.createServer-style listener, on both engines over FastCGI and HTTP; plus what node:http
// gives a listener when the client goes away ('aborted', 'close') and request-body backpressure.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable, Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa from 'koa'
import { nodeHandler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { mib, peakGrowth } from './helpers/memory.ts'
import { startFcgi, startHttp } from './helpers/server.ts'
import { PROTOCOLS, serveBoth, type Served } from './helpers/both-protocols.ts'

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function koaApp() {
  const app = new Koa()
  app.silent = true // the thrown error below is expected; Koa would print it
  app.keys = ['k1']
  const router = new Router()
  router.get('/hello/:name', (ctx) => {
    ctx.body = { name: ctx.params.name, query: ctx.query, ip: ctx.ip, protocol: ctx.protocol, host: ctx.host }
  })
  router.post('/json', (ctx) => {
    ctx.body = { got: (ctx.request as unknown as { body: unknown }).body }
  })
  router.get('/cookies', (ctx) => {
    const seen = ctx.cookies.get('k', { signed: true }) ?? null
    ctx.cookies.set('k', 'v1', { signed: true })
    ctx.body = { seen }
  })
  router.get('/redirect', (ctx) => ctx.redirect('/hello/there'))
  router.get('/stream', (ctx) => {
    ctx.type = 'application/octet-stream'
    ctx.body = Readable.from((function* () {
      for (let i = 0; i < 32; i++) yield Buffer.alloc(64 * 1024, i)
    })())
  })
  router.get('/throw', () => {
    throw new Error('koa route threw')
  })
  router.get('/teapot', (ctx) => ctx.throw(418, 'short and stout'))
  app.use(bodyParser())
  app.use(router.routes()).use(router.allowedMethods())
  return app
}

/** What a plain `http.createServer((req, res) => …)` callback does by hand. */
function bareListener(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/echo') {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      res.writeHead(200, ['Content-Type', 'application/octet-stream', 'X-Sha', sha(body)])
      res.end(body)
    })
    return
  }
  if (req.url === '/chunks') {
    res.statusCode = 203
    res.setHeader('Set-Cookie', ['a=1', 'b=2'])
    res.setHeader('X-Count', 3)
    res.flushHeaders()
    res.write('one,')
    res.write(Buffer.from('two,'))
    res.write('7468726565', 'hex')
    res.end()
    return
  }
  if (req.url === '/throw') throw new Error('bare listener threw')
  if (req.url === '/destroy') {
    res.write('partial')
    setTimeout(() => res.destroy(), 5)
    return
  }
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify({ method: req.method, url: req.url, httpVersion: req.httpVersion, remote: req.socket.remoteAddress, ua: req.headers['user-agent'] ?? null }))
}

for (const protocol of PROTOCOLS) {
  forEachEngine(`koa over ${protocol}`, (engine) => {
    let s: Served
    before(async () => {
      s = await serveBoth(protocol, engine, nodeHandler(koaApp().callback()))
    })
    after(() => s?.close())

    test('router params, query, ctx.ip, ctx.protocol, ctx.host', async () => {
      const r = await s.call({ path: '/hello/k%C3%B6?x=1', headers: { host: 'koa.test' } })
      assert.equal(r.status, 200)
      assert.deepEqual(JSON.parse(r.text), { name: 'kö', query: { x: '1' }, ip: '127.0.0.1', protocol: 'http', host: 'koa.test' })
    })

    test('@koa/bodyparser JSON; 404 and 405 from the router', async () => {
      const r = await s.call({ method: 'POST', path: '/json', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
      assert.deepEqual(JSON.parse(r.text), { got: { a: 1 } })
      assert.equal((await s.call({ path: '/missing' })).status, 404)
      assert.equal((await s.call({ method: 'DELETE', path: '/json' })).status, 405)
    })

    test('signed cookies both ways', async () => {
      const first = await s.call({ path: '/cookies' })
      assert.deepEqual(JSON.parse(first.text), { seen: null })
      assert.equal(first.cookies.length, 2) // the cookie and its signature
      const cookie = first.cookies.map((c) => c.split(';')[0]).join('; ')
      const second = await s.call({ path: '/cookies', headers: { cookie } })
      assert.deepEqual(JSON.parse(second.text), { seen: 'v1' })
    })

    test('redirect, streamed body, thrown errors', async () => {
      const r = await s.call({ path: '/redirect' })
      assert.equal(r.status, 302)
      assert.equal(r.headers.location, '/hello/there')
      const st = await s.call({ path: '/stream' })
      assert.equal(st.body.length, 32 * 64 * 1024)
      for (let i = 0; i < 32; i++) assert.equal(st.body[i * 64 * 1024], i)
      const e = await s.call({ path: '/throw' })
      assert.equal(e.status, 500)
      assert.equal(e.text, 'Internal Server Error')
      const t = await s.call({ path: '/teapot' })
      assert.equal(t.status, 418)
      assert.equal(t.text, 'short and stout')
    })
  })

  forEachEngine(`bare listener over ${protocol}`, (engine) => {
    let s: Served
    before(async () => {
      s = await serveBoth(protocol, engine, nodeHandler(bareListener))
    })
    after(() => s?.close())

    test('req fields, Content-Length from end(body)', async () => {
      const r = await s.call({ path: '/x?y=1', headers: { 'user-agent': 'probe/1' } })
      assert.deepEqual(JSON.parse(r.text), { method: 'GET', url: '/x?y=1', httpVersion: '1.1', remote: '127.0.0.1', ua: 'probe/1' })
      assert.equal(r.headers['content-length'], String(r.body.length))
    })

    test('a 2 MiB body read with data events, writeHead with a flat header array', async () => {
      const body = Buffer.alloc(2 * 1024 * 1024 + 5, 'q')
      const r = await s.call({ method: 'POST', path: '/echo', body })
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-sha'], sha(body))
      assert.equal(r.body.length, body.length)
    })

    test('a listener that throws gets a 500, logged; an async one that rejects too', async () => {
      const r = await s.call({ path: '/throw' })
      assert.equal(r.status, 500)
      assert.ok(s.logs.some((l) => l.includes('bare listener threw')))
      const a = await serveBoth(protocol, engine, nodeHandler(async () => {
        await new Promise((r) => setTimeout(r, 1))
        throw new Error('async listener rejected')
      }))
      try {
        assert.equal((await a.call({ path: '/' })).status, 500)
        assert.ok(a.logs.some((l) => l.includes('async listener rejected')))
      } finally {
        await a.close()
      }
    })

    test('res.destroy() mid-body cuts the response and is logged', async () => {
      const r = await s.call({ path: '/destroy' }).catch((err: Error) => err)
      if (!(r instanceof Error)) assert.equal(r.text, 'partial') // FastCGI: the stream ends with appStatus 1
      assert.ok(s.logs.some((l) => l.includes('handler failed (GET /destroy)') && l.includes('destroyed the response')), s.logs.join('\n'))
      const after = await s.call({ path: '/x' }) // the server goes on
      assert.equal(after.status, 200)
    })

    test('statusCode, array and number headers, flushHeaders, writes with an encoding', async () => {
      const r = await s.call({ path: '/chunks' })
      assert.equal(r.status, 203)
      assert.deepEqual(r.cookies, ['a=1', 'b=2'])
      assert.equal(r.headers['x-count'], '3')
      assert.equal(r.text, 'one,two,three')
    })
  })
}

forEachEngine('a listener sees the client go away', (engine) => {
  for (const protocol of PROTOCOLS) {
    test(`over ${protocol}: 'aborted' on req and 'close' on res, writableEnded false`, async () => {
      const seen: string[] = []
      let started!: () => void
      const running = new Promise<void>((r) => (started = r))
      let closed!: () => void
      const gone = new Promise<void>((r) => (closed = r))
      const s = await serveBoth(protocol, engine, nodeHandler((req, res) => {
        req.on('aborted', () => seen.push('req aborted'))
        res.on('close', () => {
          seen.push(`res close, writableEnded ${res.writableEnded}`)
          closed()
        })
        res.write('started')
        started()
        // never ends: only the client going away finishes this request
      }))
      try {
        const ac = new AbortController()
        const call = s.call({ path: '/', signal: ac.signal }).catch(() => 'aborted')
        await running
        await new Promise((r) => setTimeout(r, 20))
        ac.abort()
        await call
        await Promise.race([gone, new Promise((_, reject) => setTimeout(() => reject(new Error(`no close after 5 s: ${seen}`)), 5000))])
        assert.deepEqual(seen, ['req aborted', 'res close, writableEnded false'])
      } finally {
        await s.close()
      }
    })
  }
})

forEachEngine('a listener streams 64 MiB each way in bounded memory', (engine) => {
  const SIZE = 64 * 1024 * 1024
  const chunk = Buffer.alloc(64 * 1024, 'z')
  test('upload read through req (pipe to a slow consumer), download piped into res, over FastCGI', async (ctx) => {
    const t = await startFcgi(engine, nodeHandler((req, res) => {
      if (req.url === '/up') {
        const hash = createHash('sha256')
        let n = 0
        // a consumer slower than the network: the request body must wait, not pile up
        const sink = new Writable({
          highWaterMark: 64 * 1024,
          write(c: Buffer, _e, done) {
            hash.update(c)
            n += c.length
            setImmediate(done)
          },
        })
        req.pipe(sink).on('finish', () => res.end(`${n} ${hash.digest('hex')}`))
        return
      }
      Readable.from((function* () {
        for (let sent = 0; sent < SIZE; sent += chunk.length) yield chunk
      })()).pipe(res)
    }))
    try {
      const expected = createHash('sha256')
      for (let sent = 0; sent < SIZE; sent += chunk.length) expected.update(chunk)
      const digest = expected.digest('hex')
      const { rss, js } = await peakGrowth(async () => {
        const up = await t.client.request({
          method: 'POST',
          path: '/up',
          params: { CONTENT_LENGTH: String(SIZE) },
          body: (async function* () {
            for (let sent = 0; sent < SIZE; sent += chunk.length) yield chunk
          })(),
        })
        assert.equal(up.body.toString(), `${SIZE} ${digest}`)
        const down = await t.client.stream({ path: '/down' })
        const h = createHash('sha256')
        let n = 0
        for await (const c of down.body) {
          h.update(c)
          n += c.length
        }
        assert.equal(n, SIZE)
        assert.equal(h.digest('hex'), digest)
      })
      ctx.diagnostic(`nodeHandler 64 MiB up + down [${engine}]: peak growth js ${mib(js)} MiB, rss ${mib(rss)} MiB`)
      assert.ok(js < 40 * 2 ** 20, `js growth ${mib(js)} MiB`)
    } finally {
      await t.close()
    }
  })
})

forEachEngine('a listener streams server-sent events as written', (engine) => {
  for (const protocol of PROTOCOLS) {
    test(`over ${protocol}: the first event arrives while the response is still open`, async () => {
      let finish!: () => void
      const finished = new Promise<void>((r) => (finish = r))
      const listener = (_req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
        res.flushHeaders()
        res.write('data: first\n\n')
        finished.then(() => res.end('data: last\n\n'))
      }
      const first = async (body: AsyncIterable<Buffer>): Promise<string> => {
        for await (const chunk of body) return chunk.toString()
        return ''
      }
      if (protocol === 'fcgi') {
        const t = await startFcgi(engine, nodeHandler(listener))
        try {
          const r = await t.client.stream({ path: '/events' })
          assert.equal(r.headers['content-type'], 'text/event-stream')
          assert.equal(await first(r.body), 'data: first\n\n')
        } finally {
          finish()
          await t.close()
        }
      } else {
        const t = await startHttp(engine, nodeHandler(listener))
        try {
          const r = await fetch(`http://127.0.0.1:${t.port}/events`, { signal: AbortSignal.timeout(5000) })
          assert.equal(r.headers.get('content-type'), 'text/event-stream')
          const reader = r.body!.getReader()
          const { value } = await reader.read()
          assert.equal(Buffer.from(value!).toString(), 'data: first\n\n')
          finish()
          const { value: last } = await reader.read()
          assert.equal(Buffer.from(last!).toString(), 'data: last\n\n')
        } finally {
          finish()
          await t.close()
        }
      }
    })
  }
})
