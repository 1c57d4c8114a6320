#!/usr/bin/env node
// `npm install` (prepare), `npm run build` and `npm test` (pretest) run this: the native addon when
// a Rust toolchain is there, then the compiled JavaScript in dist/. Without Rust the install still
// succeeds and says in one line why the js engine will serve. Plain JS: it runs before anything
// is built and without a TypeScript loader.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const env = { ...process.env }
const cargoHome = join(homedir(), '.cargo', 'bin')
if (!has('cargo') && existsSync(join(cargoHome, 'cargo'))) env.PATH = `${cargoHome}:${env.PATH}`

function has(cmd) {
  return spawnSync(cmd, ['--version'], { env, stdio: 'ignore' }).status === 0
}

function run(script) {
  const r = spawnSync('npm', ['run', '--silent', script], { cwd: root, env, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (process.env.FCGI_SKIP_NATIVE_BUILD === '1') {
  console.error('fcgi: FCGI_SKIP_NATIVE_BUILD=1: not building the native addon')
} else if (!has('cargo')) {
  console.error('fcgi: no Rust toolchain (cargo not found): the native addon is not built, the js engine will serve (install Rust from rustup.rs for the native one)')
} else {
  run('build:native')
}
run('build:ts')
