// The native engine (Rust on Tokio through napi-rs, crates/fcgi-node). The binary is built by
// `npm run build:native` into ./binding (or installed as a per-platform package from npm/);
// when it does not load this reports why, and `engine: 'auto'` falls back to js.
import { createRequire } from 'node:module'
import type { Engine } from '../../engine.ts'
import type { NativeBinding } from './binding.ts'
import { createNativeEngine } from './engine.ts'

let loaded: Engine | Error | null = null

export function loadNativeEngine(): Engine | Error {
  if (loaded) return loaded
  try {
    const require = createRequire(import.meta.url)
    const binding: NativeBinding = require('./binding/index.cjs')
    if (typeof binding?.NativeServer !== 'function') throw new Error('the addon does not export NativeServer')
    loaded = createNativeEngine(binding)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    // the generated loader blames an npm bug when it finds no binary: say what is missing
    const why = msg.startsWith('Cannot find native binding')
      ? `no binary for ${process.platform}-${process.arch}: neither lib/engines/native/binding/fcgi.<platform>.node nor the fcgi-<platform> package is installed`
      : `the addon failed to load: ${msg.split('\n')[0]}`
    loaded = new Error(`${why}; build it with \`npm run build:native\` (needs Rust) or use the js engine`)
  }
  return loaded
}
