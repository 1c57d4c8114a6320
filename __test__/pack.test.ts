// The package as npm users get it. `npm run pack` writes pack/fcgi-<version>.tgz and this
// machine's platform package; both are installed into a temporary project with a PATH that has no
// Rust toolchain, and plain `node` (no loader flags) runs an ESM app (`import`) and a CommonJS app
// (`require`): with the platform package they serve with the native engine, without it with js,
// giving the same answers and saying once why. The apps run under this Node and under every
// binary listed in FCGI_TEST_NODES (colon-separated; .ci/run passes Node 22, 24 and 26).
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { nativeUnavailable } from './helpers/engines.ts'

const ROOT = join(import.meta.dirname, '..')
const FIXTURES = join(import.meta.dirname, 'fixtures', 'pack')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const MAIN_TGZ = join(ROOT, 'pack', `fcgi-${VERSION}.tgz`)
const nodes = [process.execPath, ...(process.env.FCGI_TEST_NODES ?? '').split(':').filter(Boolean)]

const WINDOWS = process.platform === 'win32'

/** PATH with node and npm but no cargo: the system folders, minus any that hold cargo. */
function pathWithoutRust(nodeBin: string): string {
  const system = WINDOWS ? (process.env.PATH ?? '').split(delimiter) : ['/usr/local/bin', '/usr/bin', '/bin']
  const dirs = [dirname(nodeBin), dirname(process.execPath), ...system]
  return [...new Set(dirs)].filter((d) => d && !existsSync(join(d, WINDOWS ? 'cargo.exe' : 'cargo'))).join(delimiter)
}

function platformTarball(): string | null {
  const name = readdirSync(join(ROOT, 'pack')).find((f) => f.startsWith('fcgi-') && f !== `fcgi-${VERSION}.tgz`)
  return name ? join(ROOT, 'pack', name) : null
}

function project(tarballs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'fcgi-pack-'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-proof', private: true }))
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', ...tarballs], {
    cwd: dir,
    env: { ...process.env, PATH: pathWithoutRust(process.execPath) },
    stdio: 'pipe',
    timeout: 120_000,
    shell: WINDOWS, // npm is a .cmd script there
  })
  for (const app of ['app.mjs', 'app.cjs']) copyFileSync(join(FIXTURES, app), join(dir, app))
  return dir
}

interface AppRun {
  engine: string
  httpEngine: string
  fcgi: string
  http: string
  stderr: string
}

function runApp(nodeBin: string, dir: string, app: string): AppRun {
  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: pathWithoutRust(nodeBin), SystemRoot: process.env.SystemRoot }
  assert.equal(spawnSync('cargo', ['--version'], { env }).error?.message.includes('ENOENT'), true, 'cargo must not be on PATH')
  const r = spawnSync(nodeBin, [app], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, `${app} exited ${r.status}: ${r.stderr}`)
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<AppRun, 'stderr'>), stderr: r.stderr }
}

describe('the packed package, installed without Rust', () => {
  const dirs: string[] = []
  let withBinary = ''
  let withoutBinary = ''

  before(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'pack.mjs')], { cwd: ROOT, stdio: 'pipe', timeout: 600_000 })
    withoutBinary = project([MAIN_TGZ])
    dirs.push(withoutBinary)
    const platform = platformTarball()
    if (platform) {
      withBinary = project([MAIN_TGZ, platform])
      dirs.push(withBinary)
    }
  })
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('the tarball holds dist, the bin, the napi loader and docs only', () => {
    const files = execFileSync('tar', ['tzf', MAIN_TGZ], { encoding: 'utf8' }).trim().split('\n')
    for (const f of files) {
      assert.match(f, /^package\/(dist\/.+\.(mjs|cjs|d\.mts|d\.cts)|bin\/fcgi\.js|native\/index\.(cjs|d\.cts)|package\.json|README\.md|CHANGELOG\.md|LICENSE)$/, f)
    }
    assert.ok(files.includes('package/dist/index.mjs') && files.includes('package/dist/index.cjs'))
  })

  test('publint and arethetypeswrong find nothing in the tarball', () => {
    const bin = join(ROOT, 'node_modules', '.bin')
    execFileSync(join(bin, 'publint'), ['run', MAIN_TGZ, '--strict'], { cwd: ROOT, stdio: 'pipe', timeout: 60_000, shell: WINDOWS })
    execFileSync(join(bin, 'attw'), [MAIN_TGZ, '--format', 'ascii'], { cwd: ROOT, stdio: 'pipe', timeout: 60_000, shell: WINDOWS })
  })

  for (const nodeBin of nodes) {
    const version = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim()
    for (const app of ['app.mjs', 'app.cjs']) {
      const tag = app.endsWith('.mjs') ? 'import' : 'require'
      test(`node ${version}, ${tag}: with the platform package the native engine serves`, (t) => {
        const missing = nativeUnavailable()
        if (missing && process.env.FCGI_REQUIRE_NATIVE !== '1') return t.skip(`no native binary was built: ${missing}`)
        assert.ok(withBinary, 'pack wrote no platform package although the native engine is required')
        const run = runApp(nodeBin, withBinary, app)
        assert.equal(run.engine, 'native', run.stderr)
        assert.equal(run.httpEngine, 'native')
        assert.equal(run.fcgi, `hello GET /${tag === 'import' ? 'esm' : 'cjs'}`)
        assert.equal(run.http, run.fcgi)
        assert.equal(run.stderr, '')
      })
      test(`node ${version}, ${tag}: without it the js engine serves and says why, once`, () => {
        const run = runApp(nodeBin, withoutBinary, app)
        assert.equal(run.engine, 'js')
        assert.equal(run.httpEngine, 'js')
        assert.equal(run.fcgi, `hello GET /${tag === 'import' ? 'esm' : 'cjs'}`)
        assert.equal(run.http, run.fcgi)
        const lines = run.stderr.trim().split('\n')
        assert.equal(lines.length, 1, run.stderr)
        assert.match(lines[0], /^fcgi: warn: engine 'auto' runs js: no native binary for \S+: the optional package fcgi-\S+ is not installed/)
      })
    }
  }
})
