// A Rust panic in a native connection task must cost that connection only: the Node process and
// the other connections keep going. The panic is injected through FCGI_NATIVE_PANIC_PARAM, a
// test-only hook read when a native server starts (a request whose CGI params hold that name
// panics its task; over HTTP a request header X-Test-Panic is the param HTTP_X_TEST_PANIC).
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { describeWithNative } from './helpers/engines.ts'
import { RawConnection, begin, params, stdin } from './helpers/raw.ts'
import { startFcgi, startHttp } from './helpers/server.ts'

describeWithNative('panics in native connection tasks', () => {
test('a panic in a FastCGI connection task closes that connection only', async () => {
  process.env.FCGI_NATIVE_PANIC_PARAM = 'FCGI_TEST_PANIC'
  let aborted = false
  const t = await startFcgi('native', async (req, res) => {
    if (req.url === '/wait') {
      await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()))
      aborted = true
      return
    }
    res.end('alive')
  })
  delete process.env.FCGI_NATIVE_PANIC_PARAM
  try {
    const c = new RawConnection(t.connectTo)
    c.write(Buffer.concat([begin(1), params(1, { REQUEST_URI: '/wait' }), stdin(1)]))
    await new Promise((r) => setTimeout(r, 100))
    c.write(Buffer.concat([begin(2), params(2, { REQUEST_URI: '/boom', FCGI_TEST_PANIC: '1' }), stdin(2)]))
    assert.equal(await c.closesWithin(3000), true, 'the panicking connection is closed')
    // log lines and the abort reach JS through the event queue, just after the close
    const logged = () => t.logs.some((l) => /internal error in a connection task \(panic\)/.test(l))
    const deadline = Date.now() + 3000
    while (!(aborted && logged()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    assert.ok(logged(), t.logs.join('\n'))
    assert.equal(aborted, true, "the connection's other request sees its signal abort")
    const res = await t.client.request({ path: '/after' })
    assert.equal(res.body.toString(), 'alive')
    assert.equal(t.server.stats().requestsActive, 0)
  } finally {
    await t.close()
  }
})

test('a panic in an HTTP connection task closes that connection only', async () => {
  process.env.FCGI_NATIVE_PANIC_PARAM = 'HTTP_X_TEST_PANIC'
  const t = await startHttp('native', async (req, res) => {
    if (req.url === '/wait') await new Promise((r) => setTimeout(r, 300))
    res.end(req.url === '/wait' ? 'waited' : 'alive')
  })
  delete process.env.FCGI_NATIVE_PANIC_PARAM
  try {
    const waiting = fetch(`http://127.0.0.1:${t.port}/wait`).then((r) => r.text())
    await new Promise((r) => setTimeout(r, 50))
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect(t.port, '127.0.0.1', () => s.write('GET /boom HTTP/1.1\r\nHost: x\r\nX-Test-Panic: 1\r\n\r\n'))
      const timer = setTimeout(() => {
        s.destroy()
        resolve(false)
      }, 3000)
      s.on('data', () => {})
      s.on('error', () => {})
      s.on('close', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    assert.equal(closed, true, 'the panicking connection is closed')
    const logged = () => t.logs.some((l) => /internal error in an HTTP connection task \(panic\)/.test(l))
    const deadline = Date.now() + 3000
    while (!logged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    assert.ok(logged(), t.logs.join('\n'))
    assert.equal(await waiting, 'waited', 'the request on another connection is answered')
    assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/after`)).text(), 'alive')
    assert.equal(t.server.stats().requestsActive, 0)
  } finally {
    await t.close()
  }
})
})
