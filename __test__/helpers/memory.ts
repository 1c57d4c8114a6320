// Peak growth of the memory a server *retains* while a transfer runs, for the "bounded memory"
// tests. Each sample forces a full GC first: V8 lets tens of MiB of dead external buffers (socket
// reads, body chunks) pile up before it collects, by a heuristic that varies between machines, and
// that garbage says nothing about whether a server buffers a body. Whatever survives the GC (a
// queue of chunks, an unbounded Rust buffer) still shows in the RSS.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type Gc = () => void

function fullGc(): Gc {
  const exposed = (globalThis as { gc?: Gc }).gc
  if (exposed) return exposed
  // Without --expose-gc: turn the flag on and take `gc` from a fresh context, where V8 installs it.
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as Gc
}

const gc = fullGc()

export interface Growth<T> {
  value: T
  /** Peak growth of the process RSS, in bytes. Catches buffering anywhere, Rust included, but
   *  can hide some: the allocator reuses memory an earlier test freed without growing the RSS. */
  rss: number
  /** Peak growth of what V8 holds (heap plus external buffers), in bytes: exact for JS-side
   *  buffering whatever ran before. */
  js: number
}

const jsHeld = (): number => {
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

/** Runs `run` while sampling both figures after a full GC every `everyMs`. */
export async function peakGrowth<T>(run: () => Promise<T>, everyMs = 20): Promise<Growth<T>> {
  gc()
  const rss0 = process.memoryUsage().rss
  const js0 = jsHeld()
  let rss = 0
  let js = 0
  const sample = (): void => {
    gc()
    rss = Math.max(rss, process.memoryUsage().rss - rss0)
    js = Math.max(js, jsHeld() - js0)
  }
  const sampler = setInterval(sample, everyMs)
  try {
    const value = await run()
    sample()
    return { value, rss, js }
  } finally {
    clearInterval(sampler)
  }
}

export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)
