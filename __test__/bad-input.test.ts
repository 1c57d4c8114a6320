// Bad input gets a bounded answer (closed connection or an error response, with a log line), never
// a crash, hang or unbounded memory; the server keeps serving others. Both engines.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { Type, encodePairs } from '../lib/fastcgi/codec.ts'
import { cgiErrorResponse } from '../lib/fastcgi/head.ts'
import { forEachEngine } from './helpers/engines.ts'
import { RawConnection, begin, endRequest, rec, request, stdoutOf } from './helpers/raw.ts'
import { mib, peakGrowth } from './helpers/memory.ts'
import { startFcgi, type TestServer } from './helpers/server.ts'

forEachEngine('bad input', (engine) => {
  let t: TestServer
  let throwCount = 0
  before(async () => {
    t = await startFcgi(engine, async (req, res) => {
      if (req.url === '/throw') {
        throwCount++
        throw new Error('boom')
      }
      if (req.url === '/throw-after-head') {
        res.write('partial')
        await new Promise((r) => setTimeout(r, 10))
        throw new Error('late boom')
      }
      if (req.url === '/throw-sync') throw new Error('sync boom')
      res.end(`ok ${req.url}`)
    }, { paramsTimeout: 500, idleTimeout: 1500 })
  })
  after(() => t.close())

  async function stillServes(): Promise<void> {
    const res = await t.client.request({ path: '/alive' })
    assert.equal(res.body.toString(), 'ok /alive')
  }

  async function closedWithLog(bytes: Buffer, log: RegExp): Promise<void> {
    const before = t.logs.length
    const c = new RawConnection(t.connectTo)
    c.write(bytes)
    assert.equal(await c.closesWithin(3000), true, 'the server closes the connection')
    assert.ok(t.logs.slice(before).some((l) => log.test(l)), `log line ${log} in:\n${t.logs.slice(before).join('\n')}`)
    await stillServes()
  }

  test('wrong protocol version closes the connection', async () => {
    const bad = request(1)
    bad[0] = 2
    await closedWithLog(bad, /version/)
  })

  test('application record types sent by the client close the connection', async () => {
    await closedWithLog(rec(Type.Stdout, 1, 'x'), /only sent by applications/)
  })

  test('a malformed BEGIN_REQUEST closes the connection', async () => {
    await closedWithLog(rec(Type.BeginRequest, 1, 'abc'), /BEGIN_REQUEST/)
  })

  test('a name-value pair running past the params closes the connection', async () => {
    const pairs = Buffer.from([5, 200, 0x41, 0x42]) // says 5 + 200 bytes, has 2
    await closedWithLog(Buffer.concat([begin(1), rec(Type.Params, 1, pairs), rec(Type.Params, 1)]), /pair/)
  })

  test('a truncated record then EOF: closed, nothing answered, server fine', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(1).subarray(0, 13))
    c.socket.end()
    assert.equal(await c.closesWithin(3000), true)
    assert.equal(c.records.length, 0)
    await stillServes()
  })

  test('random garbage never crashes the server', async () => {
    for (let i = 0; i < 30; i++) {
      const c = new RawConnection(t.connectTo)
      c.write(randomBytes(1 + (i * 97) % 3000))
      c.socket.end()
      await c.closesWithin(3000)
      c.destroy()
    }
    await stillServes()
  })

  test('params over the limit (20 MB) get 431, memory stays bounded', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(begin(1, { keepConn: false }))
    const chunk = rec(Type.Params, 1, Buffer.alloc(65528, 0x61))
    const { rss, js } = await peakGrowth(async () => {
      let sent = 0
      while (sent < 20 * 1024 * 1024 && !c.closed) {
        if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r).once('close', r))
        sent += chunk.length
      }
      await c.endOf(1)
    })
    assert.match(stdoutOf(c.records, 1), /^Status: 431 Request Header Fields Too Large\r\n/)
    assert.deepEqual(endRequest(c.records, 1), { appStatus: 0, protocolStatus: 0 })
    assert.ok(rss < 16 * 1024 * 1024 && js < 16 * 1024 * 1024, `params are not buffered past the limit (RSS +${mib(rss)} MiB, V8 +${mib(js)} MiB)`)
    assert.equal(await c.closesWithin(5000), true)
    assert.ok(t.logs.some((l) => /maxParamsBytes/.test(l)))
    await stillServes()
  })

  test('too many params get 431', async () => {
    const pairs = encodePairs(Array.from({ length: 1001 }, (_, i) => [`P${i}`, 'v'] as [string, string]))
    const c = new RawConnection(t.connectTo)
    c.write(Buffer.concat([begin(1), rec(Type.Params, 1, pairs), rec(Type.Params, 1), rec(Type.Stdin, 1)]))
    await c.endOf(1)
    // byte for byte the same answer on both engines
    assert.equal(stdoutOf(c.records, 1), cgiErrorResponse(431).toString())
    c.destroy()
  })

  test('params trickled slowly (slowloris) are cut off while another client is served', async () => {
    const slow = new RawConnection(t.connectTo)
    slow.write(begin(1))
    const pairs = encodePairs([['REQUEST_URI', '/slow']])
    let i = 0
    const timer = setInterval(() => {
      if (i < pairs.length && !slow.closed) slow.write(rec(Type.Params, 1, pairs.subarray(i, ++i)))
    }, 100)
    try {
      await stillServes()
      assert.equal(await slow.closesWithin(3000), true, 'the slow connection is closed after paramsTimeout')
      assert.ok(t.logs.some((l) => /params not complete/.test(l)))
      await stillServes()
    } finally {
      clearInterval(timer)
      slow.destroy()
    }
  })

  test('an idle connection is closed after idleTimeout', async () => {
    const c = new RawConnection(t.connectTo)
    await c.connected()
    assert.equal(await c.closesWithin(4000), true)
  })

  test('a handler that throws gets 500; the connection and server keep serving', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(1, '/throw'))
    await c.endOf(1)
    assert.match(stdoutOf(c.records, 1), /^Status: 500 Internal Server Error\r\n/)
    assert.deepEqual(endRequest(c.records, 1), { appStatus: 0, protocolStatus: 0 })
    c.write(request(2, '/throw-sync'))
    await c.endOf(2)
    assert.match(stdoutOf(c.records, 2), /^Status: 500 /)
    c.write(request(3, '/fine'))
    await c.endOf(3)
    assert.match(stdoutOf(c.records, 3), /ok \/fine$/)
    assert.ok(t.logs.some((l) => /handler failed.*boom/s.test(l)))
    assert.ok(throwCount >= 1)
    c.destroy()
  })

  test('a handler that throws after the head cuts the stream: END_REQUEST appStatus 1', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(1, '/throw-after-head'))
    await c.endOf(1)
    assert.match(stdoutOf(c.records, 1), /partial$/)
    assert.deepEqual(endRequest(c.records, 1), { appStatus: 1, protocolStatus: 0 })
    c.destroy()
    await stillServes()
  })

  test('stats count errors and connections', () => {
    const s = t.server.stats()
    assert.ok(s.errors >= 5, JSON.stringify(s))
    assert.ok(s.connectionsTotal >= 10)
    assert.ok(s.bytesRead > 1024 * 1024)
  })
})
