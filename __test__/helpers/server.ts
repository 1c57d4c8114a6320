// Start a server for a test on a fresh unix socket or an ephemeral TCP port, with a logger that
// keeps the lines for assertions instead of printing them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { FcgiClient, serveFcgi, serveHttp, type ClientOptions } from 'fcgi'
import type { EngineName, FetchHandler, Handler, Limits, ServeOptions, Server } from 'fcgi'

/** Limits and the operations options (status page, access log, slowlog). */
export type ServeExtras = Limits & Pick<ServeOptions, 'status' | 'accessLog' | 'slowlog'>

/** A handler, or a fetch-style app (served through the `fetch` option). */
export type App = Handler | { fetch: FetchHandler }
const appOption = (app: App) => (typeof app === 'function' ? { handler: app } : { fetch: app.fetch })

export interface TestServer {
  server: Server
  client: FcgiClient
  logs: string[]
  /** Where a raw socket connects: a path or { port, host }. */
  connectTo: string | { port: number; host: string }
  close(): Promise<void>
}

export function tempSocketPath(name = 'fcgi.sock'): string {
  return join(mkdtempSync(join(tmpdir(), 'fcgi-test-')), name)
}

export async function startFcgi(
  engine: EngineName,
  handler: App,
  opts: ServeExtras & { transport?: 'unix' | 'tcp'; client?: ClientOptions } = {},
): Promise<TestServer> {
  const logs: string[] = []
  const { transport = 'unix', client: clientOptions, ...limits } = opts
  const server = await serveFcgi({
    ...limits,
    engine,
    ...appOption(handler),
    listen: transport === 'unix' ? tempSocketPath() : 0,
    logger: (level, message) => logs.push(`${level}: ${message}`),
  })
  const client = new FcgiClient(server.address, clientOptions)
  const a = server.address
  const connectTo = a.type === 'unix' ? a.path : { port: a.port, host: a.host }
  return {
    server,
    client,
    logs,
    connectTo,
    async close() {
      client.close()
      await server.close({ timeout: 2000 })
      if (a.type === 'unix') rmSync(dirname(a.path), { recursive: true, force: true })
    },
  }
}

export interface TestHttpServer {
  server: Server
  port: number
  logs: string[]
  close(): Promise<void>
}

/** An HTTP server on an ephemeral loopback port. */
export async function startHttp(engine: EngineName, handler: App, limits: ServeExtras = {}): Promise<TestHttpServer> {
  const logs: string[] = []
  const server = await serveHttp({ ...limits, engine, ...appOption(handler), listen: 0, logger: (level, message) => logs.push(`${level}: ${message}`) })
  const a = server.address
  if (a.type !== 'tcp') throw new Error('expected a TCP address')
  return { server, port: a.port, logs, close: () => server.close({ timeout: 2000 }) }
}
