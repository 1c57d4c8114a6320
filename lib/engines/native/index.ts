// The native engine (Rust on Tokio through napi-rs). Until the addon is built this reports why
// it cannot load, and `engine: 'auto'` falls back to js.
import type { Engine } from '../../engine.ts'

export function loadNativeEngine(): Engine | Error {
  return new Error('the native engine is not built yet')
}
