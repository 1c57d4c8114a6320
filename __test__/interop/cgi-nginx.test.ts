// Through a real nginx: a fastcgi() script (the original's way) and `fcgi cgi` running sh,
// Python and Perl CGI programs. Both engines, unix sockets, nginx keep-conn.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { serveFcgi, type Server } from 'fcgi'
import app from '../fixtures/fastcgi-script.ts'
import { forEachEngine } from '../helpers/engines.ts'
import { tempSocketPath } from '../helpers/server.ts'
import { http, missing, waitFor, type FrontEnd } from './harness.ts'
import { startNginx } from './nginx.ts'

const skip = missing('nginx')
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fcgi.js')
const CGI = join(import.meta.dirname, '..', 'fixtures', 'cgi')

forEachEngine('nginx in front of a fastcgi() script', (engine) => {
  let server: Server
  let nginx: FrontEnd
  before(async () => {
    if (skip) return
    server = await serveFcgi({ engine, ...app, listen: tempSocketPath(), logger: () => {} })
    nginx = await startNginx({ backend: (server.address as { path: string }).path, keepConn: true })
  })
  after(async () => {
    await nginx?.stop()
    await server?.close()
  })

  test("the original's example: query and body, stderr in nginx's error log", { skip: skip ?? false }, async () => {
    const r = await http(nginx.port, '/page?q=nginx', { body: Buffer.from('posted') })
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'text/html')
    assert.equal(r.body.toString(), '<html>posted ; q=nginx</html>\r\n')
    await waitFor('the script\'s stderr in the error log', () => nginx.errorLog().includes('script saw /page'))
  })

  test('a local redirect is followed inside the back end; a client redirect reaches the browser', { skip: skip ?? false }, async () => {
    const local = await http(nginx.port, '/local')
    assert.equal(local.status, 200)
    assert.equal(local.body.toString(), 'GET from=local from /local')
    const away = await http(nginx.port, '/away')
    assert.equal(away.status, 302)
    assert.equal(away.headers.location, 'https://example.com/elsewhere')
  })
})

forEachEngine('nginx in front of fcgi cgi', (engine) => {
  const programs = { sh: 'app.sh', py: 'echo.py', pl: 'hello.pl' } as const
  const children: ChildProcess[] = []
  const fronts: Partial<Record<keyof typeof programs, FrontEnd>> = {}
  before(async () => {
    if (skip) return
    for (const [key, file] of Object.entries(programs) as [keyof typeof programs, string][]) {
      const path = tempSocketPath()
      const child = spawn(process.execPath, [BIN, 'cgi', '--listen', path, '--engine', engine, '--timeout', '2', join(CGI, file)], { stdio: ['ignore', 'ignore', 'pipe'] })
      children.push(child)
      let log = ''
      child.stderr!.on('data', (d: Buffer) => (log += d))
      await waitFor(`fcgi cgi ${file} to listen`, () => /over FastCGI/.test(log), 15_000)
      fronts[key] = await startNginx({ backend: path, keepConn: true })
    }
  })
  after(async () => {
    for (const f of Object.values(fronts)) await f.stop()
    for (const c of children) c.kill('SIGTERM')
  })

  describe('sh', () => {
    test('nginx params become the environment; the body streams through; stderr in the error log', { skip: skip ?? false }, async () => {
      const r = await http(fronts.sh!.port, '/env?from=nginx', { body: Buffer.from('abc') })
      assert.equal(r.status, 200)
      assert.equal(r.body.toString(), 'method=POST query=from=nginx gateway=CGI/1.1 proxy=none redirect=none\nabc')
      await waitFor('stderr in the error log', () => fronts.sh!.errorLog().includes('a line for the error log'))
    })
    test('a 5 MB response', { skip: skip ?? false }, async () => {
      const r = await http(fronts.sh!.port, '/big')
      assert.equal(r.body.length, 5_000_000)
    })
    test('502 for a failing program, 504 for one that outlives --timeout', { skip: skip ?? false }, async () => {
      const fail = await http(fronts.sh!.port, '/fail')
      assert.equal(fail.status, 502)
      assert.match(fail.body.toString(), /exited with status 3/)
      const slow = await http(fronts.sh!.port, `/sleep?pidfile=${tempSocketPath('pids')}`)
      assert.equal(slow.status, 504)
    })
  })

  test('python: a 1 MiB upload echoed with Status 201', { skip: skip ?? false }, async () => {
    const body = Buffer.alloc(1024 * 1024, 'nginx')
    const r = await http(fronts.py!.port, '/echo', { body, headers: { 'Content-Type': 'application/x-up' } })
    assert.equal(r.status, 201)
    assert.equal(r.headers['x-length'], String(body.length))
    assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(body).digest('hex'))
  })

  test('perl: two cookies and the query', { skip: skip ?? false }, async () => {
    const r = await http(fronts.pl!.port, '/cgi-bin/hello.pl?x=1')
    assert.equal(r.status, 200)
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'])
    assert.match(r.body.toString(), /query=x=1/)
  })
})
