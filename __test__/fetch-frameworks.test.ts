// Fetch-style frameworks through serveFcgi/serveHttp's `fetch` option: Hono and itty-router, on both engines over FastCGI and
// HTTP — routing, params, JSON bodies, cookies, redirects, streamed responses, errors.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Hono } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { stream } from 'hono/streaming'
import { AutoRouter, json, type IRequest } from 'itty-router'
import type { FetchHandler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { PROTOCOLS, serveBoth, type Served } from './helpers/both-protocols.ts'

function honoApp(): FetchHandler {
  const app = new Hono()
  app.get('/hello/:name', (c) => c.json({ name: c.req.param('name'), q: c.req.query('q') ?? null, url: c.req.url }))
  app.post('/json', async (c) => c.json({ got: await c.req.json() }))
  app.get('/cookies', (c) => {
    setCookie(c, 'h', 'v1', { path: '/', httpOnly: true })
    return c.json({ seen: getCookie(c, 'h') ?? null })
  })
  app.get('/redirect', (c) => c.redirect('/hello/there'))
  app.get('/stream', (c) =>
    stream(c, async (s) => {
      for (let i = 0; i < 4; i++) {
        await s.write(`part ${i}\n`)
        await s.sleep(5)
      }
    }),
  )
  app.get('/throw', () => {
    throw new Error('hono route threw')
  })
  app.onError((err, c) => c.text(`caught: ${err.message}`, 500))
  return app.fetch
}

function ittyApp(): FetchHandler {
  const router = AutoRouter()
  router.get('/hello/:name', ({ params, query }: IRequest) => ({ name: params.name, q: query.q ?? null }))
  router.post('/json', async (req: IRequest) => ({ got: await req.json() }))
  router.get('/redirect', () => new Response(null, { status: 302, headers: { Location: '/hello/there' } }))
  router.get('/stream', () => {
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode(`part ${i}\n`))
        controller.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/plain' } })
  })
  router.get('/throw', () => {
    throw new Error('itty route threw')
  })
  router.get('/plain', () => json({ ok: true }, { headers: { 'x-itty': '1' } }))
  return (request) => router.fetch(request)
}

for (const [name, build] of [['hono', honoApp], ['itty-router', ittyApp]] as const) {
  for (const protocol of PROTOCOLS) {
    forEachEngine(`${name} over ${protocol}`, (engine) => {
      let s: Served
      before(async () => {
        s = await serveBoth(protocol, engine, { fetch: build() }) // serveFcgi/serveHttp({ fetch })
      })
      after(() => s?.close())

      test('route params and query', async () => {
        const r = await s.call({ path: '/hello/w%C3%B6rld?q=1', headers: { host: 'f.test' } })
        assert.equal(r.status, 200)
        const j = JSON.parse(r.text)
        assert.equal(j.name, name === 'hono' ? 'wörld' : 'w%C3%B6rld') // itty-router leaves params encoded
        assert.equal(j.q, '1')
        if (name === 'hono') assert.equal(j.url, 'http://f.test/hello/w%C3%B6rld?q=1')
      })

      test('JSON body, redirect, 404', async () => {
        const r = await s.call({ method: 'POST', path: '/json', headers: { 'content-type': 'application/json' }, body: '{"a":[1]}' })
        assert.deepEqual(JSON.parse(r.text), { got: { a: [1] } })
        const red = await s.call({ path: '/redirect' })
        assert.equal(red.status, 302)
        assert.equal(red.headers.location, '/hello/there')
        assert.equal((await s.call({ path: '/nope' })).status, 404)
      })

      test('streamed body', async () => {
        const r = await s.call({ path: '/stream' })
        assert.equal(r.text, 'part 0\npart 1\npart 2\npart 3\n')
      })

      test('a thrown error is a 500', async () => {
        const r = await s.call({ path: '/throw' })
        assert.equal(r.status, 500)
        if (name === 'hono') assert.equal(r.text, 'caught: hono route threw')
      })

      if (name === 'hono') {
        test('cookies both ways', async () => {
          const first = await s.call({ path: '/cookies' })
          assert.deepEqual(first.cookies, ['h=v1; Path=/; HttpOnly'])
          const second = await s.call({ path: '/cookies', headers: { cookie: 'h=v1' } })
          assert.deepEqual(JSON.parse(second.text), { seen: 'v1' })
        })
      } else {
        test('response helpers keep their headers', async () => {
          const r = await s.call({ path: '/plain' })
          assert.equal(r.headers['x-itty'], '1')
          assert.match(r.headers['content-type'], /application\/json/)
        })
      }
    })
  }
}
