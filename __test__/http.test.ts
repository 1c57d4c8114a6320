// serveHttp over real sockets on both engines: keep-alive, pipelining, bodies, limits, malformed
// and smuggling requests, aborts, streaming with bounded memory.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, test } from 'node:test'
import type { Handler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { exchangeHttp, rawHttp } from './helpers/http-raw.ts'
import { mib, peakGrowth } from './helpers/memory.ts'
import { startHttp, type TestHttpServer } from './helpers/server.ts'

const app: Handler = async (req, res) => {
  const u = new URL(req.url, 'http://x')
  switch (u.pathname) {
    case '/params/a%20b':
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify(req.params))
      return
    case '/echo': {
      const body = await req.bytes()
      res.setHeader('X-Len', String(body.length))
      res.end(body)
      return
    }
    case '/sized':
      res.setHeader('Content-Length', '5')
      res.end('sized')
      return
    case '/slow-answer':
      await new Promise((r) => setTimeout(r, 150))
      lateSignals.push(req.signal.aborted)
      res.end('late')
      return
    case '/streamed':
      res.write('stre')
      res.end('amed')
      return
    case '/slow-stream':
      for (let i = 0; i < 200 && !req.signal.aborted; i++) {
        res.write(Buffer.alloc(64 * 1024, 'a'))
        await new Promise((r) => setTimeout(r, 10))
      }
      aborted.push(req.signal.aborted)
      res.end()
      return
    case '/throw':
      throw new Error('http boom')
    case '/non-latin1':
      res.setHeader('X-A', '€')
      res.end('never')
      return
    case '/non-latin1-write-head':
      res.writeHead(200, [['X-B', 'ok'], ['X-C', 'a€']])
      res.end('never')
      return
    case '/latin1':
      res.setHeader('X-A', 'café')
      res.end('ok')
      return
    case '/long-header':
      res.setHeader('X-Long', LONG_VALUE)
      res.end('ok')
      return
    default:
      res.end(`${req.method} ${req.url}`)
  }
}
const aborted: boolean[] = []

/** Sends each case on its own connection; each must get exactly one answer, a 400. */
async function refusals(port: number, cases: Record<string, string>): Promise<[string, string][]> {
  const outs: [string, string][] = []
  for (const [name, bytes] of Object.entries(cases)) {
    const out = await exchangeHttp(port, bytes)
    assert.match(out, /^HTTP\/1\.1 400 Bad Request\r\n/, `${name}: ${JSON.stringify(out)}`)
    assert.equal((out.match(/HTTP\/1\.1 /g) ?? []).length, 1, `${name}: exactly one response`)
    outs.push([name, out])
  }
  return outs
}
const lateSignals: boolean[] = []
/** Longer than the native engine's first guess at a header's size (it copies again). */
const LONG_VALUE = 'é'.repeat(300) + 'x'.repeat(5000)

forEachEngine('serveHttp', (engine) => {
  let t: TestHttpServer
  before(async () => {
    t = await startHttp(engine, app, { maxBodyBytes: 1024 * 1024, maxParams: 50, maxParamsBytes: 16 * 1024, paramsTimeout: 500 })
  })
  after(() => t?.close())

  test('CGI params synthesized from the request (RFC 3875)', async () => {
    const res = await fetch(`http://127.0.0.1:${t.port}/params/a%20b?x=1&y=2`, { method: 'POST', body: 'abc', headers: { 'Content-Type': 'text/x', 'X-Thing': 'v', Cookie: 'c=1' } })
    const p = (await res.json()) as Record<string, string>
    assert.equal(p.REQUEST_METHOD, 'POST')
    assert.equal(p.REQUEST_URI, '/params/a%20b?x=1&y=2')
    assert.equal(p.QUERY_STRING, 'x=1&y=2')
    assert.equal(p.SCRIPT_NAME, '')
    assert.equal(p.PATH_INFO, '/params/a b')
    assert.equal(p.CONTENT_TYPE, 'text/x')
    assert.equal(p.CONTENT_LENGTH, '3')
    assert.equal(p.SERVER_PROTOCOL, 'HTTP/1.1')
    assert.equal(p.REMOTE_ADDR, '127.0.0.1')
    assert.match(p.REMOTE_PORT, /^\d+$/)
    assert.equal(p.SERVER_ADDR, '127.0.0.1')
    assert.equal(p.SERVER_PORT, String(t.port))
    assert.equal(p.HTTP_X_THING, 'v')
    assert.equal(p.HTTP_COOKIE, 'c=1')
    assert.equal(p.GATEWAY_INTERFACE, 'CGI/1.1')
  })

  test('a long latin1 header value goes out whole', async () => {
    const res = await fetch(`http://127.0.0.1:${t.port}/long-header`)
    assert.equal(res.headers.get('x-long'), LONG_VALUE)
    assert.equal(await res.text(), 'ok')
  })

  test('keep-alive and pipelining: three requests in one write, responses in order', async () => {
    const c = rawHttp(t.port, 'GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n')
    const out = await c.until(/GET \/three/)
    const bodies = [...out.matchAll(/GET \/(one|two|three)/g)].map((m) => m[1])
    assert.deepEqual(bodies, ['one', 'two', 'three'])
    assert.equal((out.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 3)
    assert.match(out, /\r\nDate: /i)
    c.socket.destroy()
  })

  test('Content-Length and chunked request bodies; chunked and sized responses', async () => {
    const sized = await exchangeHttp(t.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')
    assert.match(sized, /^HTTP\/1\.1 200 OK\r\n/)
    assert.match(sized, /X-Len: 5/i)
    const chunked = await exchangeHttp(t.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n')
    assert.match(chunked, /X-Len: 7/i)
    // the whole response in one res.end(data): Content-Length, as node:http
    assert.match(chunked, /\r\nContent-Length: 7\r\n/i)
    assert.doesNotMatch(chunked, /Transfer-Encoding/i)
    assert.match(chunked, /\r\n\r\nabcdefg$/)
    // a response that streams (write, then end): chunked
    const streamed = await exchangeHttp(t.port, 'GET /streamed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.match(streamed, /Transfer-Encoding: chunked/i)
    assert.doesNotMatch(streamed, /Content-Length/i)
    // the body is well-formed chunks ending in the last-chunk; where the boundaries fall is the
    // engine's choice (Node 26's node:http merges a write and an end made in the same tick)
    const body = streamed.slice(streamed.indexOf('\r\n\r\n') + 4)
    assert.match(body, /^(?:[0-9a-f]+\r\n[^\r\n]+\r\n)+0\r\n\r\n$/)
    const chunks = [...body.matchAll(/([0-9a-f]+)\r\n([^\r\n]*)\r\n/g)]
    for (const [, size, data] of chunks) assert.equal(data.length, parseInt(size, 16))
    assert.equal(chunks.map((m) => m[2]).join(''), 'streamed')
    // an empty res.end(): Content-Length: 0
    const empty = await exchangeHttp(t.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    assert.match(empty, /\r\nContent-Length: 0\r\n/i)
    const fixed = await exchangeHttp(t.port, 'GET /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.match(fixed, /Content-Length: 5\r\n/i)
    assert.doesNotMatch(fixed, /Transfer-Encoding/i)
    assert.match(fixed, /\r\n\r\nsized$/)
  })

  test('Expect: 100-continue gets 100 before the body is sent', async () => {
    const c = rawHttp(t.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n')
    await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/)
    c.socket.write('body')
    await c.closed
    assert.match(c.text(), /HTTP\/1\.1 200 OK[\s\S]*X-Len: 4/i)
  })

  test('HEAD has no body; Connection: close and HTTP/1.0 close after the response', async () => {
    const head = await exchangeHttp(t.port, 'HEAD /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.match(head, /Content-Length: 5\r\n/i)
    assert.match(head, /\r\n\r\n$/)
    // HEAD of a res.end(data) response: no body, and no Content-Length: 0 claiming an empty one
    const headEcho = await exchangeHttp(t.port, 'HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.match(headEcho, /^HTTP\/1\.1 200 OK\r\n/)
    assert.doesNotMatch(headEcho, /Content-Length: 0/i)
    assert.match(headEcho, /\r\n\r\n$/)
    const http10 = rawHttp(t.port, 'GET /old HTTP/1.0\r\n\r\n')
    await http10.closed
    assert.match(http10.text(), /^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nGET \/old$/)
  })

  test('limits: 414 URL, 431 header size and count, 413 body', async () => {
    assert.match(await exchangeHttp(t.port, `GET /${'u'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 414 /)
    assert.match(await exchangeHttp(t.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20000)}\r\n\r\n`), /^HTTP\/1\.1 431 /)
    const many = Array.from({ length: 60 }, (_, i) => `X-H${i}: v\r\n`).join('')
    assert.match(await exchangeHttp(t.port, `GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n`), /^HTTP\/1\.1 431 /)
    assert.match(await exchangeHttp(t.port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\nabc`), /^HTTP\/1\.1 413 /)
  })

  test('slowloris headers get 408 or a close', async () => {
    const c = rawHttp(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n')
    const timer = setInterval(() => c.socket.write('X-Slow: 1\r\n'), 100)
    const t0 = Date.now()
    await c.closed
    clearInterval(timer)
    assert.ok(Date.now() - t0 < 4000)
    assert.ok(c.text() === '' || /^HTTP\/1\.1 408 /.test(c.text()), c.text())
  })

  test('malformed requests get 400; unsupported versions 505', async () => {
    assert.match(await exchangeHttp(t.port, 'HELLO THERE\r\n\r\n'), /^HTTP\/1\.1 400 /)
    assert.match(await exchangeHttp(t.port, 'GET / HTTP/3.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 505 /)
    assert.match(await exchangeHttp(t.port, 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 505 /)
  })

  test('RFC 9112 strictness: a second Host, a malformed version, a bare LF get 400 and the close', async () => {
    const cases = {
      'two Host headers': 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      'two Host headers, other case': 'GET / HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n',
      'text after the version': 'GET /x HTTP/1.1 extra\r\nHost: x\r\n\r\n',
      'a letter for the minor version': 'GET /x HTTP/1.x\r\nHost: x\r\n\r\n',
      'a version without its minor': 'GET /x HTTP/1.\r\nHost: x\r\n\r\n',
      'a bare LF after the request line': 'GET /x HTTP/1.1\nHost: x\n\n',
      'a bare LF after a header line': 'GET /x HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n',
      'a bare LF ending the head': 'GET /x HTTP/1.1\r\nHost: x\r\n\n',
    }
    for (const [name, out] of await refusals(t.port, cases)) {
      assert.match(out, /\r\nContent-Length: 12\r\n[\s\S]*\r\n\r\nBad Request\n$/i, name)
    }
    // the same bytes with CRLF and one Host are served
    assert.match(await exchangeHttp(t.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n/)
    // a well-formed version other than 1.x is 505, framed by Content-Length, whatever came before
    for (const version of ['HTTP/3.0', 'HTTP/2.0', 'HTTP/0.9']) {
      const out = await exchangeHttp(t.port, `GET /fine HTTP/1.1\r\nHost: x\r\n\r\nGET / ${version}\r\nHost: x\r\n\r\n`)
      assert.match(out, /HTTP\/1\.1 505 HTTP Version Not Supported\r\n[\s\S]*Content-Length: 27\r\n/i, `${version}: ${JSON.stringify(out)}`)
    }
  })

  test('request smuggling shapes are rejected with 400', async () => {
    const cases = {
      'Content-Length with Transfer-Encoding': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'duplicate Content-Length': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      'obs-fold': 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n',
      'bad chunk size': 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      'unknown transfer coding': 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc',
    }
    await refusals(t.port, cases)
  })

  test('a throwing handler gets 500 and the server keeps serving', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${t.port}/throw`)).status, 500)
    assert.equal((await fetch(`http://127.0.0.1:${t.port}/fine`)).status, 200)
  })

  test('a header value outside latin1 gets 500 and the server keeps serving; latin1 goes out byte-exact', async () => {
    for (const path of ['/non-latin1', '/non-latin1-write-head']) {
      const out = await exchangeHttp(t.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      assert.match(out, /^HTTP\/1\.1 500 Internal Server Error\r\n/, path)
      assert.doesNotMatch(out, /X-[ABC]:|never/i, path)
      assert.ok(t.logs.some((l) => l.includes(`Invalid character in header content ["${path === '/non-latin1' ? 'X-A' : 'X-C'}"]`)), t.logs.join('\n'))
      assert.equal((await fetch(`http://127.0.0.1:${t.port}/fine`)).status, 200)
    }
    const raw = rawHttp(t.port)
    const chunks: Buffer[] = []
    raw.socket.on('data', (d: Buffer) => chunks.push(d))
    raw.socket.write('GET /latin1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await raw.closed
    const bytes = Buffer.concat(chunks)
    assert.ok(bytes.includes(Buffer.from([0x0d, 0x0a, ...Buffer.from('X-A: caf'), 0xe9, 0x0d, 0x0a])), JSON.stringify(bytes.toString('latin1')))
  })

  test("a client's FIN after whole requests: they are answered in order, their signals abort, then the close", async () => {
    const c = rawHttp(t.port)
    c.socket.end('GET /sized HTTP/1.1\r\nHost: x\r\n\r\nGET /slow-answer HTTP/1.1\r\nHost: x\r\n\r\n')
    // closed right after the last answer, not by the idle timeout (60 s)
    const closedSoon = await Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))])
    assert.ok(closedSoon, `the connection is still open 5 s after the last answer: ${JSON.stringify(c.text())}`)
    assert.match(c.text(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nsized/)
    assert.match(c.text(), /\r\n\r\nsizedHTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nlate$/)
    assert.deepEqual(lateSignals.splice(0), [true], 'the slow handler saw its signal aborted')
    // a request head the FIN cut short: 400, then the close
    const cut = rawHttp(t.port)
    cut.socket.end('GET /sized HTTP/1.1\r\nHo')
    await cut.closed
    assert.match(cut.text(), /^HTTP\/1\.1 400 Bad Request\r\n/)
  })

  test('a client that disconnects mid-response aborts the handler signal', async () => {
    const c = rawHttp(t.port, 'GET /slow-stream HTTP/1.1\r\nHost: x\r\n\r\n')
    await c.until(/aaaa/)
    c.socket.destroy()
    const deadline = Date.now() + 5000
    while (aborted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(aborted, [true])
    assert.equal((await fetch(`http://127.0.0.1:${t.port}/fine`)).status, 200)
  })
})

forEachEngine('serveHttp streaming', (engine) => {
  const SIZE = 100 * 1024 * 1024
  test('100 MiB upload and download with bounded memory', async () => {
    const t = await startHttp(engine, async (req, res) => {
      if (req.method === 'POST') {
        const h = createHash('sha256')
        let n = 0
        for await (const c of req.stdin) {
          h.update(c)
          n += c.length
        }
        res.end(`${n} ${h.digest('hex')}`)
        return
      }
      const chunk = Buffer.alloc(256 * 1024, 7)
      for (let sent = 0; sent < SIZE; sent += chunk.length) if (!res.write(chunk)) await res.drain()
      res.end()
    })
    try {
      const chunk = Buffer.alloc(256 * 1024, 7)
      const expected = createHash('sha256')
      for (let sent = 0; sent < SIZE; sent += chunk.length) expected.update(chunk)
      const digest = expected.digest('hex')
      const { rss, js } = await peakGrowth(async () => {
        const body = new ReadableStream<Uint8Array>({
          sent: 0,
          pull(c) {
            if ((this as unknown as { sent: number }).sent >= SIZE) return c.close()
            ;(this as unknown as { sent: number }).sent += chunk.length
            c.enqueue(chunk)
          },
        } as UnderlyingDefaultSource<Uint8Array> & { sent: number })
        const up = await fetch(`http://127.0.0.1:${t.port}/up`, { method: 'POST', body, duplex: 'half' } as RequestInit)
        assert.equal(await up.text(), `${SIZE} ${digest}`)
        const down = await fetch(`http://127.0.0.1:${t.port}/down`)
        const h = createHash('sha256')
        let n = 0
        for await (const c of down.body as unknown as AsyncIterable<Uint8Array>) {
          h.update(c)
          n += c.length
        }
        assert.equal(n, SIZE)
        assert.equal(h.digest('hex'), digest)
      })
      // The RSS bound is looser than the FastCGI one: after a full GC node:http (js engine) still
      // shows 35-41 MiB here that V8 no longer holds, the allocator keeping freed socket buffers.
      assert.ok(rss < 64 * 1024 * 1024, `RSS grew ${mib(rss)} MiB`)
      assert.ok(js < 48 * 1024 * 1024, `V8 held ${mib(js)} MiB more`)
    } finally {
      await t.close()
    }
  })
})
