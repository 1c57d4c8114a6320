// The `fcgi` command: `serve` (including an inherited listening socket, as lighttpd's bin-path
// and spawn-fcgi pass it) and `request`.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { FcgiClient, serveFcgi } from 'fcgi'
import { waitForLine } from './helpers/child.ts'
import { forEachEngine } from './helpers/engines.ts'
import { tempSocketPath } from './helpers/server.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')
const HELLO = join(import.meta.dirname, '..', 'examples', 'hello.ts')

function run(args: string[], stdio: (string | number)[] = ['ignore', 'pipe', 'pipe']): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { stdio: stdio as never })
}

async function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => (stdout += d))
  child.stderr?.on('data', (d: Buffer) => (stderr += d))
  const code = await new Promise<number | null>((r) => child.on('close', r))
  return { code, stdout, stderr }
}

forEachEngine('cli', (engine) => {
  test('fcgi serve <module> --listen <path>, stopped gracefully by SIGTERM', async () => {
    const path = tempSocketPath()
    const child = run(['serve', HELLO, '--listen', path, '--engine', engine])
    try {
      await waitForLine(child, /serving .* over FastCGI on .* \(engine \w+\)/)
      const client = new FcgiClient(path)
      const res = await client.request({ path: '/from-cli' })
      assert.equal(res.body.toString(), 'Hello from GET /from-cli\n')
      client.close()
    } finally {
      child.kill('SIGTERM')
    }
    const code = await new Promise((r) => child.on('exit', r))
    assert.equal(code, 0)
  })

  test('fcgi serve --listen fd:3 serves an inherited listening socket', async () => {
    const outer = net.createServer()
    await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r))
    const fd = (outer as unknown as { _handle: { fd: number } })._handle.fd
    const port = (outer.address() as net.AddressInfo).port
    const child = run(['serve', HELLO, '--listen', 'fd:3', '--engine', engine], ['ignore', 'pipe', 'pipe', fd])
    outer.close() // the child owns the socket now
    try {
      await waitForLine(child, /over FastCGI/)
      const client = new FcgiClient(port)
      assert.equal((await client.request({ path: '/fd' })).body.toString(), 'Hello from GET /fd\n')
      client.close()
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.on('exit', r))
    }
  })

  test('fcgi request prints the response like curl -i', async () => {
    const path = tempSocketPath()
    const server = await serveFcgi({
      engine,
      listen: path,
      logger: () => {},
      handler: async (req, res) => {
        res.setHeader('X-Method', req.method)
        res.setHeader('X-Hdr', req.headers['x-test'] ?? '')
        res.stderr('a log line\n')
        res.writeHead(201).end(`body=${await req.text()}`)
      },
    })
    try {
      const out = await output(run(['request', path, '/x?y=1', '-X', 'PUT', '-d', 'payload', '-H', 'X-Test: yes']))
      assert.equal(out.code, 0, out.stderr)
      assert.equal(out.stdout, 'HTTP/1.1 201 Created\r\nX-Method: PUT\r\nX-Hdr: yes\r\n\r\nbody=payload')
      assert.equal(out.stderr, 'a log line\n')
    } finally {
      await server.close()
    }
  })
})

test('fcgi with no command prints usage and fails', async () => {
  const out = await output(run([]))
  assert.equal(out.code, 2)
  assert.match(out.stderr, /usage:/)
})

test('fcgi --help lists every command; fcgi --version prints package.json version', async () => {
  const help = await output(run(['--help']))
  assert.equal(help.code, 0)
  for (const name of ['serve', 'request', 'cgi', 'dev']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'))
  const version = await output(run(['--version']))
  assert.equal(version.code, 0)
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }
  assert.equal(version.stdout, `${pkg.version}\n`)
})

test('fcgi <command> --help prints that command\'s usage and flags', async () => {
  const flags: Record<string, string[]> = {
    serve: ['--listen', '--engine', '--http', '--socket-mode'],
    request: ['-X', '-d', '-H'],
    cgi: ['--timeout', '--max-processes', '--listen'],
    dev: ['--port', '--host', '--engine'],
  }
  for (const [name, expected] of Object.entries(flags)) {
    const out = await output(run([name, '--help']))
    assert.equal(out.code, 0, name)
    assert.match(out.stdout, new RegExp(`^usage: fcgi ${name} `))
    for (const flag of expected) assert.ok(out.stdout.includes(flag), `${name} --help mentions ${flag}`)
  }
})

test('an unknown flag, a missing argument or an unknown command exits 2 with the reason', async () => {
  const bad = await output(run(['serve', HELLO, '--bogus']))
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /fcgi serve: Unknown option '--bogus'[^]*see fcgi serve --help/)
  const missing = await output(run(['request', '/tmp/x.sock']))
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /request takes <address> <path>/)
  const unknown = await output(run(['frobnicate']))
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /unknown command "frobnicate"/)
  const mode = await output(run(['serve', HELLO, '--socket-mode', 'rw']))
  assert.equal(mode.code, 2)
  assert.match(mode.stderr, /--socket-mode must be an octal mode/)
})

test('fcgi cgi: what follows the program is its arguments, --help included', async () => {
  const out = await output(run(['cgi', '--timeout', 'x', '/bin/echo', '--help']))
  assert.equal(out.code, 2)
  assert.match(out.stderr, /--timeout must be a number/) // parsed as a cgi option, not --help's usage
})
