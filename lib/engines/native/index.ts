// The native engine (Rust on Tokio through napi-rs, crates/fcgi-node). The napi-generated loader
// native/index.cjs finds the binary: native/fcgi.<platform>.node when built here by
// `npm run build:native`, else the per-platform package (fcgi-linux-x64-gnu, ...) that npm
// installed as an optional dependency. When it does not load this reports why in one line, and
// `engine: 'auto'` falls back to js. lib/engines/native/ and dist/engines/native/ are equally
// deep, so the same relative path reaches the loader from the sources and from the build.
import { createRequire } from 'node:module'
import type { Engine } from '../../engine.ts'
import { createNativeEngine, type NativeBinding } from './adapter.ts'

let loaded: Engine | Error | null = null

export function loadNativeEngine(): Engine | Error {
  if (loaded) return loaded
  try {
    const require = createRequire(import.meta.url)
    const binding = require('../../../native/index.cjs') as NativeBinding
    if (typeof binding?.NativeServer !== 'function') throw new Error('the addon does not export NativeServer')
    loaded = createNativeEngine(binding)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    // the generated loader blames an npm bug when it finds no binary: say what is missing
    const why = msg.startsWith('Cannot find native binding')
      ? `no binary for ${process.platform}-${process.arch}: neither native/fcgi.<platform>.node nor the fcgi-<platform> package is installed`
      : `the addon failed to load: ${msg.split('\n')[0]}`
    loaded = new Error(`${why}; build it with \`npm run build:native\` (needs Rust) or use the js engine`)
  }
  return loaded
}
