// A Rust panic in a native connection task must cost that connection only: the Node process and
// the other connections keep going. The panic is injected through FCGI_NATIVE_PANIC_PARAM, a
// test-only hook read when a native server starts.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nativeUnavailable } from './helpers/engines.ts'
import { RawConnection, begin, params, stdin } from './helpers/raw.ts'
import { startFcgi } from './helpers/server.ts'

const missing = nativeUnavailable()
const required = process.env.FCGI_REQUIRE_NATIVE === '1'

test('a panic in a native connection task closes that connection only', { skip: missing && !required ? `native engine unavailable: ${missing}` : false }, async () => {
  if (missing) throw new Error(`FCGI_REQUIRE_NATIVE=1 but the native engine does not load: ${missing}`)
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
