// PHP-FPM-style operations on both engines over FastCGI and HTTP: the status page (text, ?json,
// ?full, answered before the handler), the access log (combined and JSON lines) and the slowlog
// (logged while the slow request still runs, and again when it ends).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { serveHttp, type AccessLogEntry, type Handler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { PROTOCOLS, serveBoth, type Served } from './helpers/both-protocols.ts'

/** Wait until `check()` holds, polling, or fail after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

for (const protocol of PROTOCOLS) {
  forEachEngine(`operations over ${protocol}`, (engine) => {
    let s: Served
    const seenByHandler: string[] = []
    const combined: string[] = []
    let release: (() => void) | null = null
    const app: Handler = async (req, res) => {
      seenByHandler.push(req.url)
      if (req.url === '/slow') {
        await new Promise<void>((r) => (release = r))
        res.end('slow done')
        return
      }
      if (req.url === '/throw') throw new Error('operations test throw')
      res.setHeader('Content-Type', 'text/plain')
      res.end('hello world')
    }

    before(async () => {
      s = await serveBoth(protocol, engine, app, {
        transport: 'tcp',
        status: { path: '/status', pool: 'app' },
        slowlog: { thresholdMs: 150 },
        accessLog: { format: 'combined', stream: { write: (line: string) => combined.push(line) } },
      })
    })
    after(() => s?.close())

    test('the status page is answered before the handler, in text', async () => {
      await s.call({ path: '/a' })
      await s.call({ path: '/b' })
      const r = await s.call({ path: '/status' })
      assert.equal(r.status, 200)
      assert.match(r.headers['content-type'], /^text\/plain/)
      assert.match(r.headers['cache-control'], /no-store/)
      assert.ok(!seenByHandler.includes('/status'))
      const fields = Object.fromEntries(r.text.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(22)]))
      assert.equal(fields.pool, 'app')
      assert.equal(fields['process manager'], 'single')
      assert.match(fields['start time'], /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$/)
      assert.ok(Number(fields['accepted conn']) >= 1)
      assert.ok(Number(fields.requests) >= 3, r.text)
      assert.equal(fields['active requests'], '1') // this request
      assert.equal(fields.engine, engine)
      assert.equal(fields.protocol, protocol)
      // TCP on Linux: the accept queue, from /proc/net/tcp (nobody waits to be accepted here)
      if (process.platform === 'linux') {
        assert.equal(fields['listen queue'], '0')
        assert.equal(fields['max listen queue'], '0')
      }
      assert.match(r.text, /^pool: {17}app\n/) // PHP-FPM's layout: the value at column 23
    })

    test('?openmetrics for Prometheus', async () => {
      const r = await s.call({ path: '/status?openmetrics' })
      assert.match(r.headers['content-type'], /^application\/openmetrics-text; version=1\.0\.0/)
      assert.match(r.text, /^# TYPE fcgi_start_since_seconds gauge\n/)
      assert.match(r.text, /\n# TYPE fcgi_requests counter\n# HELP fcgi_requests [^\n]+\nfcgi_requests_total\{pool="app"\} [1-9]\d*\n/)
      assert.match(r.text, /\nfcgi_active_requests\{pool="app"\} 1\n/)
      assert.ok(r.text.endsWith('\n# EOF\n'))
    })

    test('?json and ?full: a request in flight is listed; the slowlog fires while it runs', async () => {
      const slow = s.call({ path: '/slow', headers: { 'user-agent': 'slowpoke' } })
      await until(() => release !== null, 'the slow request to start')
      const j = JSON.parse((await s.call({ path: '/status?json&full' })).text)
      assert.equal(j.pool, 'app')
      assert.equal(j['active requests'], 2)
      assert.ok(j['max active requests'] >= 2)
      assert.equal(j.processes.length, 1)
      assert.equal(j.processes[0].pid, process.pid)
      const row = j.requests.find((r: Record<string, unknown>) => r['request URI'] === '/slow')
      assert.ok(row, JSON.stringify(j.requests))
      assert.equal(row['request method'], 'GET')
      assert.equal(row.state, 'Running')
      assert.ok(row['request duration'] > 0)
      // past the threshold, still running: logged now, not only at the end
      await until(() => s.logs.some((l) => l.includes('slow request: "GET /slow"') && l.includes('still running after 150 ms')), 'the slowlog line')
      const text = (await s.call({ path: '/status?full' })).text
      assert.match(text, /request URI: {10}\/slow\n/)
      assert.match(text, /slow requests: {8}1\n/)
      release!()
      const r = await slow
      assert.equal(r.text, 'slow done')
      await until(() => s.logs.some((l) => /slow request: "GET \/slow" .* ended with status 200 after \d+ ms/.test(l)), 'the slowlog end line')
      assert.equal(s.logs.filter((l) => l.includes('slow request:')).length, 2, s.logs.join('\n'))
    })

    test('the access log: combined format, one line per request, errors included', async () => {
      combined.length = 0
      await s.call({ path: '/x?q="1"', headers: { 'user-agent': 'probe/2 "quoted"', referer: 'http://ref.test/' } })
      await s.call({ path: '/throw' })
      await s.call({ method: 'HEAD', path: '/h' })
      await until(() => combined.length >= 3, 'three access log lines')
      const [x, thrown, head] = combined
      assert.match(x, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/x\?q=\\"1\\" HTTP\/1\.1" 200 11 "http:\/\/ref\.test\/" "probe\/2 \\"quoted\\""\n$/)
      assert.match(thrown, /"GET \/throw HTTP\/1\.1" 500 22 /)
      assert.match(head, /"HEAD \/h HTTP\/1\.1" 200 - /)
      assert.ok(s.logs.some((l) => l.includes('operations test throw')))
    })
  })
}

forEachEngine('access log as JSON lines and as a function', (engine) => {
  test('json format and a function get the same fields', async () => {
    const lines: string[] = []
    const entries: AccessLogEntry[] = []
    const handler: Handler = (_req, res) => res.end('12345')
    const a = await serveHttp({ engine, handler, listen: 0, logger: () => {}, accessLog: { format: 'json', stream: { write: (l: string) => lines.push(l) } } })
    const b = await serveHttp({ engine, handler, listen: 0, logger: () => {}, accessLog: (e) => entries.push(e) })
    try {
      for (const server of [a, b]) {
        const port = server.address.type === 'tcp' ? server.address.port : 0
        const r = await fetch(`http://127.0.0.1:${port}/j?x=1`, { headers: { 'user-agent': 'ua/1' } })
        assert.equal(await r.text(), '12345')
      }
      await until(() => lines.length === 1 && entries.length === 1, 'one entry each')
      const j = JSON.parse(lines[0])
      assert.deepEqual(
        { method: j.method, url: j.url, status: j.status, bytes: j.bytes, userAgent: j.userAgent, remoteAddr: j.remoteAddr, aborted: j.aborted, httpVersion: j.httpVersion },
        { method: 'GET', url: '/j?x=1', status: 200, bytes: 5, userAgent: 'ua/1', remoteAddr: '127.0.0.1', aborted: false, httpVersion: 'HTTP/1.1' },
      )
      assert.ok(typeof j.durationMs === 'number' && j.durationMs >= 0)
      assert.ok(!Number.isNaN(Date.parse(j.time)))
      const e = entries[0]
      assert.equal(e.url, '/j?x=1')
      assert.equal(e.bytes, 5)
      assert.ok(e.time instanceof Date)
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('bad options fail at startup', async () => {
    const handler: Handler = (_req, res) => res.end()
    await assert.rejects(serveHttp({ engine, handler, listen: 0, status: { path: 'status' } }), /status\.path/)
    await assert.rejects(serveHttp({ engine, handler, listen: 0, slowlog: { thresholdMs: 0 } }), /slowlog\.thresholdMs/)
    await assert.rejects(serveHttp({ engine, handler, listen: 0, accessLog: 'apache' as never }), /accessLog/)
  })
})
