// maxRequests (requests in flight per server: one more gets 503 + Retry-After without running the
// handler) and requestTimeout (a handler that does not end its response in time: its signal
// aborts, the client gets 504, or a cut response once the head went out), on both engines and
// both protocols.
import assert from 'node:assert/strict'
import http from 'node:http'
import { test } from 'node:test'
import type { Handler } from 'fcgi'
import { PROTOCOLS, serveBoth } from './helpers/both-protocols.ts'
import { forEachEngine } from './helpers/engines.ts'
import { startFcgi, startHttp } from './helpers/server.ts'

/** A promise and its resolver: handlers wait on it until the test lets them go. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((r) => (open = r))
  return { wait, open }
}

forEachEngine('request limits above the engines', (engine) => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: past maxRequests in flight, 503 with Retry-After and the handler is not run`, async () => {
      const g = gate()
      let ran = 0
      const handler: Handler = async (req, res) => {
        ran++
        if (req.url === '/block') await g.wait
        if (req.url === '/throw') throw new Error('planned')
        res.end(`done ${req.url}`)
      }
      const s = await serveBoth(protocol, engine, handler, { maxRequests: 2 })
      try {
        const blocked = [s.call({ path: '/block' }), s.call({ path: '/block' })]
        while (ran < 2) await new Promise((r) => setTimeout(r, 5))
        const refused = await s.call({ path: '/more' })
        assert.equal(refused.status, 503)
        assert.equal(refused.headers['retry-after'], '1')
        assert.match(refused.text, /too many requests in flight/)
        const head = await s.call({ method: 'HEAD', path: '/more' })
        assert.equal(head.status, 503)
        assert.equal(head.body.length, 0)
        assert.equal(ran, 2, 'the refused requests never reached the handler')
        g.open()
        for (const r of await Promise.all(blocked)) assert.equal(r.status, 200)
        // the places are free again, after a normal end and after a handler error alike
        assert.equal((await s.call({ path: '/throw' })).status, 500)
        const again = await Promise.all([s.call({ path: '/a' }), s.call({ path: '/b' })])
        assert.deepEqual(again.map((r) => r.text), ['done /a', 'done /b'])
      } finally {
        g.open()
        await s.close()
      }
    })

    test(`${protocol}: a handler that never answers gets its signal aborted and the client a 504`, async () => {
      let reason: unknown
      const handler: Handler = (req, res) => {
        if (req.url === '/quick') return res.end('quick')
        req.signal.addEventListener('abort', () => (reason = req.signal.reason))
        return new Promise<void>(() => {}) // never settles
      }
      const s = await serveBoth(protocol, engine, handler, { requestTimeout: 300 })
      try {
        const started = Date.now()
        const r = await s.call({ path: '/hang' })
        const ms = Date.now() - started
        assert.equal(r.status, 504)
        assert.match(r.text, /Gateway Timeout/)
        assert.ok(ms >= 250 && ms < 3000, `answered after ${ms} ms`)
        assert.ok(reason instanceof DOMException && reason.name === 'TimeoutError', String(reason))
        assert.ok(s.logs.some((l) => /requestTimeout \(300 ms\)/.test(l)), s.logs.join('\n'))
        // the server keeps serving, and a request that ends in time is not touched
        assert.equal((await s.call({ path: '/quick' })).text, 'quick')
      } finally {
        await s.close()
      }
    })
  }

  test('fcgi: a handler that sent its head and then stalls is cut: END_REQUEST with app status 1', async () => {
    const t = await startFcgi(engine, (_req, res) => {
      res.write('partial')
      return new Promise<void>(() => {})
    }, { requestTimeout: 300 })
    try {
      const r = await t.client.request({ path: '/stall' })
      assert.equal(r.status, 200)
      assert.equal(r.body.toString(), 'partial')
      assert.equal(r.appStatus, 1)
    } finally {
      await t.close()
    }
  })

  test('http: a handler that sent its head and then stalls is cut: the connection closes mid-body', async () => {
    const t = await startHttp(engine, (_req, res) => {
      res.write('partial')
      return new Promise<void>(() => {})
    }, { requestTimeout: 300 })
    try {
      const outcome = await new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port: t.port, path: '/stall', agent: false }, (res) => {
          let body = ''
          res.on('data', (d: Buffer) => (body += d))
          res.on('end', () => resolve(`ended: ${body}`))
          res.on('error', () => resolve(`cut after: ${body}`))
          res.on('aborted', () => resolve(`cut after: ${body}`))
        })
      })
      assert.equal(outcome, 'cut after: partial')
    } finally {
      await t.close()
    }
  })
})
