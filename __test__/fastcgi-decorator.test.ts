// `fastcgi(script)`: the original decorator as a function. Raw CGI output parsed as RFC 3875
// says (split anywhere, CRLF or LF, Status, local and client redirects, header names in any
// case), streamed; the same script over FastCGI and HTTP; a file run directly serves itself;
// `fcgi serve` takes its default export. Both engines, real sockets.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { FcgiClient, fastcgi, serveFcgi, serveHttp, type CgiScript, type Server } from 'fcgi'
import app from './fixtures/fastcgi-script.ts'
import { waitForLine } from './helpers/child.ts'
import { scriptHandler } from './helpers/script-handler.ts'
import { forEachEngine } from './helpers/engines.ts'
import { tempSocketPath } from './helpers/server.ts'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'fastcgi-script.ts')
const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')
// by URL: a script run from another working directory must still find the loader
const TSX = import.meta.resolve('tsx')

let gate: (() => void) | null = null
const script: CgiScript = async ({ env, stdin, stdout, stderr }) => {
  const path = env.REQUEST_URI.split('?')[0]
  switch (path) {
    case '/split': // the head split in odd places, across writes
      for (const part of ['Content-Ty', 'pe: text/plain\r', '\n', 'Status: 201 Created\r\n\r', '\nbody']) stdout.write(part)
      return
    case '/lf':
      stdout.write('content-TYPE: text/plain\nX-A: 1\n\nlf body')
      return
    case '/status':
      stdout.write('Status: 404 Not Found\r\nContent-type: text/plain\r\n\r\nnope')
      return
    case '/cookies':
      stdout.write('Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n')
      return
    case '/client-redirect-with-status':
      stdout.write('Status: 301 Moved Permanently\r\nLocation: /new\r\n\r\n')
      return
    case '/noheader':
      stdout.write('just text, no header')
      return
    case '/nothing':
      return
    case '/badline':
      stdout.write('this is not a header\r\n\r\nbody')
      return
    case '/loop':
      stdout.write('Location: /loop\r\n\r\n')
      return
    case '/stream':
      stdout.write('Content-Type: text/plain\r\n\r\nfirst\n')
      await new Promise<void>((r) => (gate = r)) // released by the test once it has read "first"
      stdout.write('second\n')
      return
    case '/pipe': {
      // stdin is a real Readable: piping it to stdout echoes the body
      stdout.write(`Content-Type: application/octet-stream\r\nX-Length: ${env.CONTENT_LENGTH}\r\n\r\n`)
      await new Promise<void>((resolve, reject) => {
        stdin.on('end', resolve).on('error', reject)
        stdin.pipe(stdout, { end: false })
      })
      return
    }
    case '/stderr':
      stderr.write('to the error log\n')
      stdout.write('Content-Type: text/plain\r\n\r\nok')
      return
  }
}

forEachEngine('fastcgi(script) over FastCGI', (engine) => {
  let server: Server
  let client: FcgiClient
  const logs: string[] = []
  before(async () => {
    server = await serveFcgi({ engine, handler: scriptHandler(script), listen: tempSocketPath(), logger: (l, m) => logs.push(`${l}: ${m}`) })
    client = new FcgiClient(server.address)
  })
  after(async () => {
    client.close()
    await server.close()
  })

  test('a head split across writes, CRLF, with Status', async () => {
    const r = await client.request({ path: '/split' })
    assert.equal(r.status, 201)
    assert.equal(r.headers['content-type'], 'text/plain')
    assert.equal(r.body.toString(), 'body')
  })

  test('LF-only head, header names in any case', async () => {
    const r = await client.request({ path: '/lf' })
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'text/plain')
    assert.equal(r.headers['x-a'], '1')
    assert.equal(r.body.toString(), 'lf body')
  })

  test('Status: 404', async () => {
    const r = await client.request({ path: '/status' })
    assert.equal(r.status, 404)
    assert.equal(r.body.toString(), 'nope')
  })

  test('a repeated header keeps every value', async () => {
    const r = await client.request({ path: '/cookies' })
    assert.deepEqual(r.rawHeaders.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v), ['a=1', 'b=2'])
  })

  test('Location with a Status is passed on as is', async () => {
    const r = await client.request({ path: '/client-redirect-with-status' })
    assert.equal(r.status, 301)
    assert.equal(r.headers.location, '/new')
  })

  test('output with no header block is a 500, logged; so is no output at all', async () => {
    for (const path of ['/noheader', '/nothing', '/badline']) {
      const r = await client.request({ path })
      assert.equal(r.status, 500, path)
    }
    assert.ok(logs.some((l) => /header block/.test(l)), logs.join('\n'))
    assert.ok(logs.some((l) => /no output at all/.test(l)), logs.join('\n'))
    assert.ok(logs.some((l) => /malformed header line "this is not a header"/.test(l)), logs.join('\n'))
  })

  test('endless local redirects stop at 10 with a 500', async () => {
    const r = await client.request({ path: '/loop' })
    assert.equal(r.status, 500)
    assert.ok(logs.some((l) => /more than 10 local redirects/.test(l)))
  })

  test('the body streams: the first chunk arrives while the script still runs', async () => {
    const r = await client.stream({ path: '/stream' })
    const it = r.body[Symbol.asyncIterator]()
    const first = await it.next()
    assert.equal(first.value.toString(), 'first\n')
    assert.ok(gate, 'the script is still waiting')
    gate!()
    gate = null
    let rest = ''
    for (let n = await it.next(); !n.done; n = await it.next()) rest += n.value
    assert.equal(rest, 'second\n')
  })

  test('stdin is a Readable: a 3 MiB body piped to stdout comes back', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 'xyz')
    const r = await client.request({ path: '/pipe', body })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-length'], String(body.length))
    assert.ok(r.body.equals(body))
  })

  test('stderr goes to FCGI_STDERR', async () => {
    const r = await client.request({ path: '/stderr' })
    assert.equal(r.stderr, 'to the error log\n')
    assert.equal(r.body.toString(), 'ok')
  })

  test("the original's example: env, stdin.text(), raw output", async () => {
    const s = await serveFcgi({ engine, ...app, listen: tempSocketPath(), logger: () => {} })
    const c = new FcgiClient(s.address)
    try {
      const r = await c.request({ path: '/?q=1', body: 'hello' })
      assert.equal(r.headers['content-type'], 'text/html')
      assert.equal(r.body.toString(), '<html>hello ; q=1</html>\r\n')
      assert.equal(r.stderr, 'script saw /\n')
      const local = await c.request({ path: '/local', method: 'POST', body: 'dropped' })
      assert.equal(local.status, 200)
      assert.equal(local.body.toString(), 'GET from=local from /local')
      const away = await c.request({ path: '/away' })
      assert.equal(away.status, 302)
      assert.equal(away.headers.location, 'https://example.com/elsewhere')
    } finally {
      c.close()
      await s.close()
    }
  })
})

forEachEngine('the same fastcgi() script over HTTP', (engine) => {
  let server: Server
  let base: string
  before(async () => {
    server = await serveHttp({ engine, ...app, listen: 0, logger: () => {} })
    base = `http://127.0.0.1:${(server.address as { port: number }).port}`
  })
  after(() => server.close())

  test('GET and POST as over FastCGI', async () => {
    const r = await fetch(`${base}/?a=b`, { method: 'POST', body: 'posted' })
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('content-type'), 'text/html')
    assert.equal(await r.text(), '<html>posted ; a=b</html>\r\n')
  })

  test('local redirect re-dispatches, client redirect is a 302', async () => {
    const local = await fetch(`${base}/local`)
    assert.equal(await local.text(), 'GET from=local from /local')
    const away = await fetch(`${base}/away`, { redirect: 'manual' })
    assert.equal(away.status, 302)
    assert.equal(away.headers.get('location'), 'https://example.com/elsewhere')
  })
})

test('fastcgi() called from a module that is not the entry point only returns { handler }', () => {
  assert.equal(typeof app.handler, 'function')
  assert.equal(app.server, null)
  assert.throws(() => fastcgi('not a function' as never), /script must be a function/)
})

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  child.kill('SIGTERM')
  return new Promise((r) => child.once('exit', r))
}

forEachEngine('a fastcgi() script', (engine) => {
  test('run directly, serves itself on ./fcgi.sock in its working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcgi-direct-'))
    const child = spawn(process.execPath, ['--import', TSX, FIXTURE], { cwd: dir, env: { ...process.env, FCGI_ENGINE: engine }, stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      assert.match(await waitForLine(child, /over FastCGI on \S+ \(engine \w+\)/), new RegExp(`on ./fcgi.sock \\(engine ${engine}\\)`))
      const c = new FcgiClient(join(dir, 'fcgi.sock'))
      assert.equal((await c.request({ path: '/?x=1', body: 'b' })).body.toString(), '<html>b ; x=1</html>\r\n')
      c.close()
    } finally {
      assert.equal(await stop(child), 0)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('run directly with --listen, then with FCGI_LISTEN', async () => {
    for (const how of ['flag', 'env'] as const) {
      const path = tempSocketPath()
      const args = ['--import', TSX, FIXTURE, ...(how === 'flag' ? ['--listen', path] : [])]
      const env = { ...process.env, FCGI_ENGINE: engine, ...(how === 'env' ? { FCGI_LISTEN: path } : {}) }
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      try {
        await waitForLine(child, /over FastCGI/)
        const c = new FcgiClient(path)
        assert.equal((await c.request({ path: '/?how' })).body.toString(), '<html> ; how</html>\r\n')
        c.close()
      } finally {
        await stop(child)
      }
    }
  })

  test('export default fastcgi(...) works with fcgi serve', async () => {
    const path = tempSocketPath()
    const child = spawn(process.execPath, [BIN, 'serve', FIXTURE, '--listen', path, '--engine', engine], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      const line = await waitForLine(child, /serving .* over FastCGI on .*/)
      assert.match(line, /fastcgi-script\.ts/)
      const c = new FcgiClient(path)
      assert.equal((await c.request({ path: '/?served', body: 'x' })).body.toString(), '<html>x ; served</html>\r\n')
      c.close()
    } finally {
      await stop(child)
    }
  })
})
