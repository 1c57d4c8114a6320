// systemd socket activation: `--listen systemd` takes fd 3 when LISTEN_PID is this process and
// LISTEN_FDS >= 1, and unsets the variables (sd_listen_fds). The child gets an inherited
// listening unix socket at fd 3 and the variables the way systemd sets them: LISTEN_PID is the
// pid of the process that runs (a shell sets it to its own pid, then execs node). Both engines.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { linkSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { FcgiClient, serveFcgi } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { waitFor } from './interop/harness.ts'
import { tempSocketPath } from './helpers/server.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')
const APP = join(import.meta.dirname, 'fixtures', 'fastcgi-script.ts')

/** A listening unix socket whose descriptor a child can inherit. */
async function listeningSocket(): Promise<{ path: string; fd: number; server: net.Server }> {
  const path = tempSocketPath('activated.sock')
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(path, r))
  return { path, fd: (server as unknown as { _handle: { fd: number } })._handle.fd, server }
}

/** `fcgi serve` as systemd starts it: fd 3 inherited, LISTEN_FDS, and LISTEN_PID set to the pid
 * node will run as (sh sets it to its own, then execs). `pid` overrides that for the wrong-pid case. */
function activated(fd: number, args: string[], pid?: string): ChildProcess {
  const script = `export LISTEN_PID=${pid ?? '$$'} LISTEN_FDS=1; exec "$0" "$@"`
  return spawn('/bin/sh', ['-c', script, process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd] })
}

function collect(child: ChildProcess): { text: () => string } {
  let out = ''
  child.stderr!.on('data', (d: Buffer) => (out += d))
  return { text: () => out }
}

forEachEngine('listen: systemd', (engine) => {
  test('fcgi serve --listen systemd serves the socket passed at fd 3 and unsets LISTEN_*', async () => {
    const sock = await listeningSocket()
    const child = activated(sock.fd, ['serve', APP, '--listen', 'systemd', '--engine', engine])
    // the child owns the socket now; closing ours unlinks its path, so keep a second name for it
    linkSync(sock.path, `${sock.path}.link`)
    sock.server.close()
    const log = collect(child)
    try {
      await waitFor('the serving line', () => /over FastCGI on/.test(log.text()), 15_000)
      assert.match(log.text(), new RegExp(`\\(engine ${engine}\\)`))
      const c = new FcgiClient(`${sock.path}.link`)
      const r = await c.request({ path: '/env' })
      c.close()
      assert.deepEqual(JSON.parse(r.body.toString()), { LISTEN_FDS: null, LISTEN_PID: null })
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await new Promise((r) => child.once('exit', r)), 0, log.text())
  })

  test('LISTEN_PID of another process: refused with the reason', async () => {
    const sock = await listeningSocket()
    const child = activated(sock.fd, ['serve', APP, '--listen', 'systemd', '--engine', engine], '1')
    const log = collect(child)
    const code = await new Promise((r) => child.once('exit', r))
    sock.server.close()
    assert.equal(code, 2)
    assert.match(log.text(), /LISTEN_PID is 1, not this process/)
  })

  test("listen: 'systemd' with no activation says how to get it", async () => {
    await assert.rejects(serveFcgi({ engine, listen: 'systemd', handler: () => {} }), /needs socket activation/)
  })
})
