// `fcgi dev`: the HTTP front end speaks real FastCGI to the app (params, body, status, headers,
// stderr), and an edit to the module restarts the app; a broken edit is a 502 that says why,
// the next good one serves again. Plain fetch, both engines.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { forEachEngine } from './helpers/engines.ts'
import { waitFor } from './interop/harness.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')

const moduleText = (version: number) => `
export default async (req, res) => {
  res.setHeader('Content-Type', 'text/plain')
  res.setHeader('Set-Cookie', ['a=1', 'b=2'])
  res.stderr('logged by the app\\n')
  res.status = req.url.startsWith('/missing') ? 404 : 200
  const body = await req.text()
  res.end(\`version ${version}: \${req.method} \${req.url} via \${req.params.SERVER_SOFTWARE} from \${req.params.REMOTE_ADDR} body=\${body}\`)
}
`

forEachEngine('fcgi dev', (engine) => {
  test('serves the module over FastCGI behind HTTP, restarts on edit, survives a broken edit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcgi-dev-test-'))
    const file = join(dir, 'app.mjs')
    writeFileSync(file, moduleText(1))
    const child: ChildProcess = spawn(process.execPath, [BIN, 'dev', file, '--port', '0', '--engine', engine], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stderr!.on('data', (d: Buffer) => (log += d))
    try {
      await waitFor('the URL', () => /http:\/\/127\.0\.0\.1:\d+\//.test(log), 20_000)
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(log)![0]
      assert.match(log, new RegExp(`over FastCGI \\(engine ${engine}\\)`))

      const r = await fetch(`${url}x?y=1`, { method: 'POST', body: 'hello' })
      assert.equal(r.status, 200)
      assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2'])
      assert.equal(await r.text(), 'version 1: POST /x?y=1 via fcgi-dev from 127.0.0.1 body=hello')
      assert.equal((await fetch(`${url}missing`)).status, 404)
      await waitFor('the app\'s stderr on the console', () => log.includes('logged by the app'), 20_000)

      writeFileSync(file, moduleText(2))
      await waitFor('version 2', async () => (await (await fetch(url)).text()).startsWith('version 2'), 20_000)
      assert.match(log, /app\.mjs changed: restarting/)

      writeFileSync(file, 'export default (req, res) => { res.end(') // a syntax error
      await waitFor('a 502 that says the app did not start', async () => {
        const b = await fetch(url)
        return b.status === 502 && /the app exited .* before listening/.test(await b.text())
      }, 20_000)
      writeFileSync(file, moduleText(3))
      await waitFor('version 3', async () => (await (await fetch(url)).text()).startsWith('version 3'), 20_000)
    } finally {
      child.kill('SIGINT')
      const code = await new Promise((r) => child.once('exit', r))
      rmSync(dir, { recursive: true, force: true })
      assert.equal(code, 0, log)
    }
  })
})
