// `fcgi cgi` / cgiHandler: real CGI programs (sh, Python, Perl in fixtures/cgi) per request,
// over real sockets on both engines: the CGI environment, the body streamed in and out, stderr
// to FCGI_STDERR, Status and local redirects, 502 for a bad exit or no header, 504 and a killed
// process group on timeout, the group killed on abort, the process limit.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { cgiHandler, FcgiClient, serveFcgi, serveHttp, type Server } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { waitFor } from './interop/harness.ts'
import { tempSocketPath } from './helpers/server.ts'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'cgi')
const SH = join(FIXTURES, 'app.sh')
const PY = join(FIXTURES, 'echo.py')
const PL = join(FIXTURES, 'hello.pl')
const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')

/** Alive and not a zombie (an orphan may wait a while for a reaper). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** The pids a /sleep request wrote: the script and its background child. */
async function sleepPids(pidfile: string): Promise<number[]> {
  const text = await waitFor('the pid file', () => (existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim() : ''))
  return text.split(' ').map(Number)
}

forEachEngine('fcgi cgi (cgiHandler) over FastCGI', (engine) => {
  const servers: Server[] = []
  const clients: FcgiClient[] = []
  const tmp = mkdtempSync(join(tmpdir(), 'fcgi-cgi-'))
  async function start(program: string, options: Parameters<typeof cgiHandler>[1] = {}): Promise<FcgiClient> {
    const s = await serveFcgi({ engine, handler: cgiHandler(program, options), listen: tempSocketPath(), logger: () => {} })
    servers.push(s)
    const c = new FcgiClient(s.address)
    clients.push(c)
    return c
  }
  let sh: FcgiClient
  before(async () => {
    sh = await start(SH, { timeout: 1500 })
  })
  after(async () => {
    for (const c of clients) c.close()
    await Promise.all(servers.map((s) => s.close({ timeout: 1000 })))
    rmSync(tmp, { recursive: true, force: true })
  })

  test('sh: the CGI environment, its directory as cwd, the body through, stderr to FCGI_STDERR', async () => {
    const r = await sh.request({ path: '/env?a=1', method: 'POST', body: 'the body', headers: { Proxy: 'http://evil:1' } })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-cwd'], FIXTURES)
    assert.equal(r.body.toString(), 'method=POST query=a=1 gateway=CGI/1.1 proxy=none redirect=none\nthe body')
    assert.equal(r.stderr, 'a line for the error log\n')
  })

  test('sh: a local redirect runs the program again for the new path, as a GET', async () => {
    const r = await sh.request({ path: '/local', method: 'POST', body: 'x' })
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), 'method=GET query=after-redirect gateway=CGI/1.1 proxy=none redirect=/local\n')
  })

  test('sh: Status: 404 passes through', async () => {
    const r = await sh.request({ path: '/nope' })
    assert.equal(r.status, 404)
    assert.equal(r.body.toString(), 'no such path /nope\n')
  })

  test('sh: a non-zero exit with no output is a 502 that says so; stderr is kept', async () => {
    const r = await sh.request({ path: '/fail' })
    assert.equal(r.status, 502)
    assert.match(r.body.toString(), /^Bad Gateway: app\.sh exited with status 3 and printed no valid CGI header/)
    assert.match(r.stderr, /something broke\n/)
    assert.match(r.stderr, /fcgi cgi: app\.sh exited with status 3/)
  })

  test('sh: output without a header block is a 502', async () => {
    const r = await sh.request({ path: '/noheader' })
    assert.equal(r.status, 502)
    assert.match(r.body.toString(), /app\.sh exited with status 0 and printed no valid CGI header: the output ended inside the header block/)
  })

  test('sh: a 5 MB body streams out whole', async () => {
    const r = await sh.request({ path: '/big' })
    assert.equal(r.status, 200)
    assert.equal(r.body.length, 5_000_000)
    assert.ok(r.body.every((b) => b === 0x61))
  })

  test('sh: the timeout kills the whole process group and answers 504', async () => {
    const pidfile = join(tmp, `timeout-${engine}`)
    const t0 = Date.now()
    const pending = sh.request({ path: `/sleep?pidfile=${pidfile}` })
    const pids = await sleepPids(pidfile)
    assert.ok(pids.every(alive))
    const r = await pending
    assert.equal(r.status, 504)
    assert.ok(Date.now() - t0 < 5000, `answered after ${Date.now() - t0} ms`)
    await waitFor('the script and its background child to be gone', () => !pids.some(alive))
  })

  test('sh: FCGI_ABORT_REQUEST kills the process group', async () => {
    const pidfile = join(tmp, `abort-${engine}`)
    const c = await start(SH) // default timeout (60 s): only the abort can stop it
    const ac = new AbortController()
    const pending = c.request({ path: `/sleep?pidfile=${pidfile}`, signal: ac.signal }).catch(() => null)
    const pids = await sleepPids(pidfile)
    ac.abort()
    await waitFor('the script and its background child to be gone after the abort', () => !pids.some(alive), 4000)
    await pending
  })

  test('sh: at most maxProcesses run at once, the others wait', async () => {
    const c = await start(SH, { maxProcesses: 2 })
    const t0 = Date.now()
    const rs = await Promise.all([1, 2, 3, 4].map(() => c.request({ path: '/nap' })))
    const ms = Date.now() - t0
    assert.deepEqual(rs.map((r) => r.body.toString()), Array(4).fill('rested\n'))
    assert.ok(ms >= 780, `4 naps of 400 ms, 2 at a time, took only ${ms} ms`)
  })

  test('python: Status 201, LF-only head, a 1 MiB body echoed', async () => {
    const py = await start(PY)
    const body = Buffer.alloc(1024 * 1024, 'py')
    const r = await py.request({ path: '/echo', body, headers: { 'Content-Type': 'application/x-test' } })
    assert.equal(r.status, 201)
    assert.equal(r.headers['content-type'], 'application/x-test')
    assert.equal(r.headers['x-length'], String(body.length))
    assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(body).digest('hex'))
  })

  test('perl: lowercase Content-type, two cookies, SCRIPT_FILENAME', async () => {
    const pl = await start(PL)
    const r = await pl.request({ path: '/hello.pl?name=perl' })
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'text/html')
    assert.deepEqual(r.rawHeaders.filter(([n]) => n === 'Set-Cookie').map(([, v]) => v), ['a=1', 'b=2'])
    assert.equal(r.body.toString(), `<html><body>Hello from Perl, query=name=perl, script=${PL}</body></html>\n`)
  })

  test('a program that cannot start is a 502', async () => {
    const c = await start(join(tmp, 'missing-program'))
    const r = await c.request({ path: '/' })
    assert.equal(r.status, 502)
    assert.match(r.body.toString(), /could not start the CGI program/)
  })
})

forEachEngine('cgiHandler over HTTP', (engine) => {
  test('the Perl script through serveHttp', async () => {
    const s = await serveHttp({ engine, handler: cgiHandler(PL), listen: 0, logger: () => {} })
    try {
      const r = await fetch(`http://127.0.0.1:${(s.address as { port: number }).port}/x?q=http`)
      assert.equal(r.status, 200)
      assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2'])
      assert.match(await r.text(), /query=q=http/)
    } finally {
      await s.close()
    }
  })
})

forEachEngine('the fcgi cgi command', (engine) => {
  test('fcgi cgi --timeout --max-processes <program> serves it; --help lists the flags', async () => {
    const path = tempSocketPath()
    const child = spawn(process.execPath, [BIN, 'cgi', '--listen', path, '--engine', engine, '--timeout', '5', '--max-processes', '3', PY], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stderr.on('data', (d: Buffer) => (log += d))
    try {
      await waitFor('the serving line', () => /over FastCGI on .* \(engine \w+\)/.test(log), 15000)
      assert.match(log, new RegExp(`engine ${engine}`))
      const c = new FcgiClient(path)
      const r = await c.request({ path: '/', body: 'from the command' })
      assert.equal(r.status, 201)
      assert.equal(r.body.toString(), 'from the command')
      c.close()
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await new Promise((r) => child.once('exit', r)), 0)
  })
})
