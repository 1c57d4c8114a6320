// Graceful close shared by the js engine's servers: stop accepting, let connections finish
// their requests, force them closed after the timeout.
import type net from 'node:net'

export interface Drainable {
  drainForClose(): void
  destroy(): void
}

export async function closeGracefully(opts: {
  server: net.Server
  timeout: number
  connections: () => Set<Drainable>
  setOnIdle: (cb: () => void) => void
}): Promise<void> {
  const stopped = new Promise<void>((resolve) => opts.server.close(() => resolve()))
  const idle = new Promise<void>((resolve) => {
    if (opts.connections().size === 0) return resolve()
    opts.setOnIdle(resolve)
    for (const c of [...opts.connections()]) c.drainForClose()
  })
  const timer = setTimeout(() => {
    for (const c of [...opts.connections()]) c.destroy()
  }, opts.timeout)
  try {
    await Promise.all([stopped, idle])
  } finally {
    clearTimeout(timer)
  }
}
