// The back end behind a front end: our server, in this process, serving the interop app on a
// unix socket or a TCP port. kill() is what a crash looks like from the front end (listener gone,
// every connection closed at once); restart() listens again on the same address.
import { chmodSync } from 'node:fs'
import { dirname } from 'node:path'
import { serveFcgi } from 'fcgi'
import type { EngineName, Server, ServerStats } from 'fcgi'
import { tempSocketPath } from '../helpers/server.ts'
import { makeApp } from './app.ts'

export type Transport = 'unix' | 'tcp'

export interface Backend {
  readonly name: string
  readonly transport: Transport
  /** What a front end's config names: a unix socket path, or 127.0.0.1:port. */
  readonly address: string
  readonly port: number
  /** Log lines of the server (handler errors, protocol errors). */
  readonly logs: string[]
  stats(): ServerStats
  /** False between kill() and restart(). */
  running(): boolean
  kill(): Promise<void>
  restart(): Promise<void>
  close(): Promise<void>
}

export async function startBackend(engine: EngineName, transport: Transport, name = 'b1'): Promise<Backend> {
  const handler = makeApp(name)
  const logs: string[] = []
  let listen: string | number = transport === 'unix' ? tempSocketPath() : 0
  const start = async (): Promise<Server> => {
    const s = await serveFcgi({ engine, handler, listen, logger: (level, message) => logs.push(`${level}: ${message}`) })
    if (s.address.type === 'unix') {
      // front ends that drop privileges (Apache children run as www-data) must reach it
      chmodSync(dirname(s.address.path), 0o755)
      chmodSync(s.address.path, 0o666)
    }
    return s
  }
  let server: Server | null = await start()
  const a = server.address
  const address = a.type === 'unix' ? a.path : `127.0.0.1:${a.port}`
  const port = a.type === 'tcp' ? a.port : 0
  if (a.type === 'tcp') listen = `127.0.0.1:${a.port}`
  return {
    name,
    transport,
    address,
    port,
    logs,
    stats: () => server?.stats() ?? { connections: 0, connectionsTotal: 0, requestsActive: 0, requestsTotal: 0, errors: 0, aborts: 0, bytesRead: 0, bytesWritten: 0 },
    running: () => server !== null,
    async kill() {
      const s = server
      server = null
      await s?.close({ timeout: 0 })
    },
    async restart() {
      if (server) return
      server = await start()
    },
    async close() {
      const s = server
      server = null
      await s?.close({ timeout: 1000 })
    },
  }
}
