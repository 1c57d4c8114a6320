// The native engine (Rust on Tokio through napi-rs, crates/fcgi-node). The napi-generated loader
// native/index.cjs finds the binary: native/fcgi.<platform>.node when built here by
// `npm run build:native`, else the per-platform package (fcgi-linux-x64-gnu, ...) that npm
// installed as an optional dependency. When it does not load this reports why in one line, and
// `engine: 'auto'` falls back to js. lib/engines/native/ and dist/engines/native/ are equally
// deep, so the same relative path reaches the loader from the sources and from the build.
import { createRequire } from 'node:module'
import type { Engine } from '../../engine.ts'
import type { NativeBinding } from './binding.ts'
import { createNativeEngine } from './engine.ts'

let loaded: Engine | Error | null = null

export function loadNativeEngine(): Engine | Error {
  if (loaded) return loaded
  try {
    const require = createRequire(import.meta.url)
    const binding: NativeBinding = require('../../../native/index.cjs')
    if (typeof binding?.NativeServer !== 'function') throw new Error('the addon does not export NativeServer')
    loaded = createNativeEngine(binding)
  } catch (err) {
    loaded = new Error(explainLoadFailure(err))
  }
  return loaded
}

/** One line: why the binary did not load. The generated loader throws "Cannot find native binding"
 * (blaming an npm bug) with every candidate's error chained as `cause`; a candidate that exists
 * but fails (libc mismatch, Node-API too old, a damaged file) is the real reason, else it is
 * missing. */
function explainLoadFailure(err: unknown): string {
  const first = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]
  if (!(err instanceof Error) || !err.message.startsWith('Cannot find native binding')) {
    return `the addon failed to load: ${first(err)}`
  }
  for (let e: unknown = err.cause; e instanceof Error; e = e.cause) {
    if (!e.message.startsWith('Cannot find module')) return `the native binary failed to load: ${first(e)}`
  }
  return (
    `no native binary for ${platformName()}: the optional package fcgi-${platformName()} is not installed ` +
    '(reinstall without --omit=optional, or build from source with Rust: npm run build:native)'
  )
}

/** The napi-rs platform name (linux-x64-gnu, darwin-arm64, win32-x64-msvc, ...). */
function platformName(): string {
  const { platform, arch } = process
  if (platform === 'win32') return `${platform}-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return `linux-${arch}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
}
