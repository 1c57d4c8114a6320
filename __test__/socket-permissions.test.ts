// Unix socket ownership and mode after bind (PHP-FPM's listen.owner/group/mode), both engines,
// from the API and from `fcgi serve --socket-mode`.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { FcgiClient, serveFcgi } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { tempSocketPath } from './helpers/server.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')
const HELLO = join(import.meta.dirname, '..', 'examples', 'hello.ts')
const root = process.getuid?.() === 0

forEachEngine('unix socket permissions', (engine) => {
  test('socketMode 0o660 is applied after bind; the socket still serves', async () => {
    const path = tempSocketPath()
    const s = await serveFcgi({ engine, listen: path, socketMode: 0o660, handler: (_q, r) => r.end('ok') })
    try {
      assert.equal(statSync(path).mode & 0o7777, 0o660)
      const c = new FcgiClient(path)
      assert.equal((await c.request()).body.toString(), 'ok')
      c.close()
    } finally {
      await s.close()
    }
  })

  test('socketOwner and socketGroup by name and by id', { skip: root ? false : 'chown to another user needs root' }, async () => {
    for (const [owner, group] of [['nobody', 'www-data'], [65534, 33]] as const) {
      const path = tempSocketPath()
      const s = await serveFcgi({ engine, listen: path, socketOwner: owner, socketGroup: group, handler: (_q, r) => r.end() })
      try {
        const st = statSync(path)
        assert.deepEqual([st.uid, st.gid], [65534, 33])
      } finally {
        await s.close()
      }
    }
  })

  test('an unknown group fails the listen and leaves nothing listening', async () => {
    const path = tempSocketPath()
    await assert.rejects(serveFcgi({ engine, listen: path, socketGroup: 'no-such-group-here', handler: () => {} }), /no-such-group-here: no such group/)
    const s = await serveFcgi({ engine, listen: path, handler: (_q, r) => r.end() }) // the path is free again
    await s.close()
  })

  test('fcgi serve --socket-mode 600', async () => {
    const path = tempSocketPath()
    const child = spawn(process.execPath, [BIN, 'serve', HELLO, '--listen', path, '--engine', engine, '--socket-mode', '600'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stderr.on('data', (d: Buffer) => (log += d))
    try {
      const deadline = Date.now() + 15000
      while (!/over FastCGI/.test(log)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`not serving: ${log}`)
        await new Promise((r) => setTimeout(r, 25))
      }
      assert.equal(statSync(path).mode & 0o777, 0o600)
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
  })
})

test('socketMode must be a file mode', async () => {
  await assert.rejects(serveFcgi({ listen: tempSocketPath(), socketMode: 0o10000, handler: () => {} }), /socketMode must be a file mode/)
})
