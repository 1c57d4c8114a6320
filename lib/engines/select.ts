// Which engine runs: 'native' must load or fail loudly; 'auto' prefers native and falls back to js.
// FCGI_ENGINE in the environment overrides 'auto' (not an explicit choice). When 'auto' runs js
// because the binary does not load, the process is told why once, in one line.
import type { Engine } from '../engine.ts'
import type { EngineChoice, Logger } from '../types.ts'
import { jsEngine } from './js/index.ts'
import { loadNativeEngine } from './native/index.ts'

let fallbackExplained = false

export function selectEngine(choice: EngineChoice = 'auto', log?: Logger): Engine {
  let wanted = choice
  if (wanted === 'auto') {
    const env = process.env.FCGI_ENGINE
    if (env === 'js' || env === 'native') wanted = env
    else if (env && env !== 'auto') throw new Error(`FCGI_ENGINE must be native, js or auto, got ${JSON.stringify(env)}`)
  }
  if (wanted === 'js') return jsEngine
  const native = loadNativeEngine()
  if (wanted === 'native') {
    if (native instanceof Error) throw new Error(`engine 'native' is not available: ${native.message}`)
    return native
  }
  if (wanted !== 'auto') throw new Error(`engine must be 'auto', 'native' or 'js', got ${JSON.stringify(choice)}`)
  if (native instanceof Error) {
    if (!fallbackExplained && log) log('warn', `engine 'auto' runs js: ${native.message}`)
    fallbackExplained = true
    return jsEngine
  }
  return native
}
