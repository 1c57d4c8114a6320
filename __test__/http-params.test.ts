// Differential check of the CGI params serveHttp synthesizes: the same raw requests go to a js
// (node:http) and a native (crates/fcgi-http) server, whose handler answers with its params; both
// must agree on every name and value except the client's and server's ports.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, test } from 'node:test'
import type { Handler } from 'fcgi'
import { describeWithNative } from './helpers/engines.ts'
import { startHttp, type TestHttpServer } from './helpers/server.ts'

const app: Handler = async (req, res) => {
  const p: Record<string, string> = { ...req.params }
  delete p.REMOTE_PORT
  delete p.SERVER_PORT
  await req.bytes()
  const body = JSON.stringify(p)
  res.setHeader('Content-Type', 'application/json')
  res.setHeader('Content-Length', String(Buffer.byteLength(body)))
  res.end(body)
}

/** Sends raw bytes (latin1), returns the status line and body of the one response. */
function ask(port: number, raw: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => socket.destroy(new Error('no response in 3 s')), 3000)
    socket.on('data', (d) => chunks.push(d))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      const all = Buffer.concat(chunks)
      const end = all.indexOf('\r\n\r\n')
      const status = all.subarray(0, all.indexOf('\r\n')).toString('latin1')
      resolve({ status, body: end < 0 ? '' : all.subarray(end + 4).toString('utf8') })
    })
    // no half-close: like node:http, the server aborts a request whose client sent FIN before
    // the response was done; every request here says Connection: close (or is HTTP/1.0)
    socket.write(Buffer.from(raw, 'latin1'))
  })
}

const get = (target: string, headers = 'Host: example.com\r\n', version = 'HTTP/1.1') => `GET ${target} ${version}\r\n${headers}Connection: close\r\n\r\n`

const CASES: Record<string, string> = {
  'root, no query': get('/'),
  'query string': get('/a/b?x=1&y=2'),
  'empty query': get('/path?'),
  'two question marks': get('/p?a?b=c'),
  'host with port': get('/h', 'Host: example.com:8080\r\n'),
  'IPv6 host': get('/h', 'Host: [::1]:8080\r\n'),
  'percent-encoded UTF-8 path': get('/caf%C3%A9/%20x/%2F+?q=%41%20'),
  'malformed escape stays raw': get('/bad%zz/x?y'),
  'escape that is not UTF-8': get('/bin%FF%FE'),
  'double slashes and dots': get('//double//slash/./../x'),
  'duplicate headers joined': get('/d', 'Host: example.com\r\nX-Dup: a\r\nX-Dup: b\r\nx-dup: c\r\n'),
  'cookies joined with semicolons': get('/c', 'Host: example.com\r\nCookie: a=1\r\nCookie: b=2; c=3\r\n'),
  'header name case and dashes': get('/n', 'host: example.com\r\nX-Some-Thing: 1\r\nx_under: 2\r\nACCEPT: */*\r\n'),
  'latin1 header value': get('/l', 'Host: example.com\r\nX-Latin: caf\xe9 \xff\r\n'),
  'empty and padded values': get('/e', 'Host: example.com\r\nX-Empty:\r\nX-Sp:   a  b   \r\nX-Tab:\ta\t\r\n'),
  'many headers': get('/m', `Host: example.com\r\n${Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}\r\n`).join('')}`),
  'HTTP/1.0 without Host': get('/old?z=1', '', 'HTTP/1.0'),
  'HTTP/1.0 with Host': get('/old', 'Host: ten.example\r\n', 'HTTP/1.0'),
  'OPTIONS *': 'OPTIONS * HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
  'POST with a sized body': 'POST /form?a=1 HTTP/1.1\r\nHost: example.com\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 3\r\nConnection: close\r\n\r\na=b',
  'POST with a chunked body': 'POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  'custom method': 'PROPFIND /dav/ HTTP/1.1\r\nHost: example.com\r\nDepth: 1\r\nConnection: close\r\n\r\n',
}

describeWithNative('serveHttp CGI params: native equals js', () => {
  let js: TestHttpServer
  let native: TestHttpServer
  before(async () => {
    js = await startHttp('js', app)
    native = await startHttp('native', app)
  })
  after(async () => {
    await js?.close()
    await native?.close()
  })

  for (const [name, raw] of Object.entries(CASES)) {
    test(name, async () => {
      const [a, b] = await Promise.all([ask(js.port, raw), ask(native.port, raw)])
      assert.match(a.status, /^HTTP\/1\.1 200 /, `js: ${a.status} ${a.body}`)
      assert.equal(b.status, a.status, `native: ${b.status} ${b.body}`)
      const pa = JSON.parse(a.body) as Record<string, string>
      const pb = JSON.parse(b.body) as Record<string, string>
      assert.deepEqual(pb, pa)
      assert.deepEqual(Object.keys(pb), Object.keys(pa), 'same names in the same order')
    })
  }
})
