// The HTTP keep-alive idle timeout on both engines: a connection with no request in flight and no
// input is closed `idleTimeout` after it went quiet (the last response, or the connect), not
// before and not much later; any input restarts the count. The HTTP default is 5 s, as node:http's
// keepAliveTimeout (browsers reuse connections; a FastCGI front end's pool wants the 60 s that
// serveFcgi keeps).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Handler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { rawHttp } from './helpers/http-raw.ts'
import { startHttp, type TestHttpServer } from './helpers/server.ts'

const app: Handler = (_req, res) => res.end('ok')
const IDLE = 1000
/** Timers fire late, never early; a loaded machine (2 cores, other jobs) adds to that. */
const LATE = 700

/** Milliseconds from `since` until the server closes the connection (or `limit` passes: -1). */
async function closedAfter(c: ReturnType<typeof rawHttp>, since: number, limit: number): Promise<number> {
  const closed = await Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), limit))])
  return closed ? Date.now() - since : -1
}

forEachEngine('serveHttp idle timeout', (engine) => {
  let t: TestHttpServer
  before(async () => {
    t = await startHttp(engine, app, { idleTimeout: IDLE })
  })
  after(() => t?.close())

  test('a kept-alive connection closes idleTimeout after its last response', async () => {
    const c = rawHttp(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await c.until(/\r\n\r\nok$/)
    const answered = Date.now()
    const ms = await closedAfter(c, answered, IDLE + 5000)
    assert.ok(ms >= IDLE - 50 && ms <= IDLE + LATE, `closed ${ms} ms after the response (idleTimeout ${IDLE})`)
    assert.equal(c.text().match(/HTTP\/1\.1 /g)?.length, 1, 'nothing but the one response')
  })

  test('each request restarts the count; a connection that never sends closes too', async () => {
    const c = rawHttp(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await c.until(/ok$/)
    for (let i = 2; i <= 3; i++) {
      await new Promise((r) => setTimeout(r, IDLE * 0.6))
      c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      await c.until(new RegExp(`(ok[\\s\\S]*){${i}}$`))
    }
    const last = Date.now()
    const ms = await closedAfter(c, last, IDLE + 5000)
    assert.ok(ms >= IDLE - 50 && ms <= IDLE + LATE, `closed ${ms} ms after the third response`)

    const silent = rawHttp(t.port)
    await new Promise((r) => silent.socket.once('connect', r))
    const opened = Date.now()
    const silentMs = await closedAfter(silent, opened, IDLE + 5000)
    assert.ok(silentMs >= IDLE - 50 && silentMs <= IDLE + LATE, `a silent connection closed after ${silentMs} ms`)
    assert.equal(silent.text(), '', 'closed without an answer')
  })
})

forEachEngine('serveHttp idle timeout default', (engine) => {
  let t: TestHttpServer
  before(async () => {
    t = await startHttp(engine, app)
  })
  after(() => t?.close())

  test('without idleTimeout, an HTTP connection idles 5 s (node:http keepAliveTimeout), not the 60 s of FastCGI', async () => {
    const c = rawHttp(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await c.until(/ok$/)
    const ms = await closedAfter(c, Date.now(), 10_000)
    assert.ok(ms >= 4950 && ms <= 5000 + LATE, `closed ${ms} ms after the response`)
  })
})
