// Every protocol and API test runs on both engines. `forEachEngine` declares a describe block per
// engine; the native one is skipped with a reason when its binary does not load, unless
// FCGI_REQUIRE_NATIVE=1 (CI), where a missing binary is a failure.
import { describe } from 'node:test'
import { loadNativeEngine } from '../../lib/engines/native/index.ts'
import type { EngineName } from 'fcgi'

export function nativeUnavailable(): string | null {
  const native = loadNativeEngine()
  return native instanceof Error ? native.message : null
}

/** A describe block that needs the native engine: skipped with the reason when its binary does not
 * load, or failing instead under FCGI_REQUIRE_NATIVE=1 (CI). */
export function describeWithNative(title: string, body: () => void): void {
  const missing = nativeUnavailable()
  if (missing && process.env.FCGI_REQUIRE_NATIVE === '1') {
    describe(title, () => {
      throw new Error(`FCGI_REQUIRE_NATIVE=1 but the native engine does not load: ${missing}`)
    })
    return
  }
  describe(title, { skip: missing ? `native engine unavailable: ${missing}` : false }, body)
}

export function forEachEngine(title: string, body: (engine: EngineName) => void): void {
  describe(`${title} [js]`, () => body('js'))
  describeWithNative(`${title} [native]`, () => body('native'))
}
