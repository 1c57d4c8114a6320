// `fcgi serve app.ts`: the package ships JavaScript, yet a user's TypeScript module still runs:
// through Node's type stripping where Node has it (22.18+), through the user's tsx otherwise,
// and with a one-line error naming what to install when neither is there. Run under this Node
// and every binary in FCGI_TEST_NODES (.ci/run passes Node 22, 24 and 26).
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { FcgiClient } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'fcgi.js')
const nodes = [process.execPath, ...(process.env.FCGI_TEST_NODES ?? '').split(':').filter(Boolean)]
// Outside the repo, so tsx (a devDependency here) is not found from the module or the cwd.
const dir = mkdtempSync(join(tmpdir(), 'fcgi-ts-app-'))
writeFileSync(
  join(dir, 'app.ts'),
  "interface Reply { text: string }\nconst reply: Reply = { text: 'typescript ok' }\nexport default (_req: unknown, res: { end(s: string): void }): void => res.end(reply.text)\n",
)

function stripsTypes(nodeBin: string): boolean {
  return execFileSync(nodeBin, ['-p', 'typeof process.features.typescript === "string"'], { encoding: 'utf8' }).trim() === 'true'
}

interface Served {
  code: number | null
  stderr: string
  body?: string
}

/** Starts `fcgi serve app.ts` in `cwd`, sends one request when it says it serves, then stops it. */
async function serveOnce(nodeBin: string, cwd: string, engine: string): Promise<Served> {
  const child = spawn(nodeBin, [BIN, 'serve', join(dir, 'app.ts'), '--listen', '127.0.0.1:0', '--engine', engine], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  let body: string | undefined
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  child.stderr.on('data', async (d: Buffer) => {
    stderr += d
    const m = /over FastCGI on 127\.0\.0\.1:(\d+)/.exec(stderr)
    if (m && body === undefined) {
      body = ''
      const client = new FcgiClient(`127.0.0.1:${m[1]}`)
      body = (await client.request({ path: '/' })).body.toString()
      client.close()
      child.kill('SIGTERM')
    }
  })
  const code = await new Promise<number | null>((r) => child.on('close', r))
  clearTimeout(timer)
  return { code, stderr, body }
}

after(() => rmSync(dir, { recursive: true, force: true }))

forEachEngine('fcgi serve with a TypeScript module', (engine) => {
  for (const nodeBin of nodes) {
    const version = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim()
    describe(`node ${version}`, () => {
      if (stripsTypes(nodeBin)) {
        test("runs through Node's own type stripping", async () => {
          const r = await serveOnce(nodeBin, dir, engine)
          assert.equal(r.body, 'typescript ok', r.stderr)
        })
      } else {
        test('runs through tsx when the user has it (looked up from the working directory)', async () => {
          const r = await serveOnce(nodeBin, join(import.meta.dirname, '..'), engine)
          assert.equal(r.body, 'typescript ok', r.stderr)
        })
        test('without tsx: one line naming what to install, exit 2', async () => {
          const r = await serveOnce(nodeBin, dir, engine)
          assert.equal(r.code, 2)
          assert.equal(r.body, undefined)
          assert.match(r.stderr, /^fcgi: \S+app\.ts is TypeScript and Node v\S+ cannot run it by itself: install tsx \(npm install -D tsx\), use Node 22\.18 or newer, or compile it to JavaScript\n$/)
        })
      }
    })
  }
})
