// Every protocol and API test runs on both engines. `forEachEngine` declares a describe block per
// engine; the native one is skipped with a reason when its binary does not load, unless
// FCGI_REQUIRE_NATIVE=1 (CI), where a missing binary is a failure.
import { describe } from 'node:test'
import { loadNativeEngine } from '../../lib/engines/native/index.ts'
import type { Protocol } from '../../lib/engine.ts'
import type { EngineName } from '../../lib/types.ts'

export function nativeUnavailable(): string | null {
  const native = loadNativeEngine()
  return native instanceof Error ? native.message : null
}

/** Why the native engine cannot serve `protocol` yet (a missing feature, not a missing binary). */
function nativeLacks(protocol: Protocol): string | null {
  const native = loadNativeEngine()
  if (native instanceof Error || native.protocols.includes(protocol)) return null
  return `the native engine does not serve ${protocol} yet`
}

export function forEachEngine(title: string, body: (engine: EngineName) => void, opts: { protocol?: Protocol } = {}): void {
  for (const engine of ['js', 'native'] as const) {
    const lacks = engine === 'native' ? nativeLacks(opts.protocol ?? 'fcgi') : null
    if (lacks) {
      describe(`${title} [${engine}]`, { skip: lacks }, () => {})
      continue
    }
    const missing = engine === 'native' ? nativeUnavailable() : null
    if (missing && process.env.FCGI_REQUIRE_NATIVE === '1') {
      describe(`${title} [${engine}]`, () => {
        throw new Error(`FCGI_REQUIRE_NATIVE=1 but the native engine does not load: ${missing}`)
      })
      continue
    }
    describe(`${title} [${engine}]`, { skip: missing ? `native engine unavailable: ${missing}` : false }, () => body(engine))
  }
}
