// Start an app the way the command line does (`fcgi serve`, `fcgi cgi`, a fastcgi() script run
// directly): FastCGI, plus HTTP when asked, one log line each saying where and on which engine.
import { describeAddress } from './address.ts'
import { serveFcgi, serveHttp } from './server.ts'
import type { FetchHandler, Handler, ListenOption, Server, ServeOptions } from './types.ts'

export type App = { handler: Handler } | { fetch: FetchHandler }
/** Everything serveFcgi/serveHttp take but the handler: how a command-line app is served. */
export type AppOptions = Omit<ServeOptions, 'handler' | 'fetch'>

/** The FastCGI server first, then (with `http`) the HTTP one with the same engine choice and
 * logger; if the second fails the first is closed. */
export async function serveApp(label: string, app: App, options: AppOptions, http?: ListenOption): Promise<Server[]> {
  const servers: Server[] = []
  try {
    const fcgi = await serveFcgi({ ...options, ...app } as ServeOptions)
    servers.push(fcgi)
    process.stderr.write(`fcgi: serving ${label} over FastCGI on ${describeAddress(fcgi.address)} (engine ${fcgi.engine})\n`)
    if (http !== undefined) {
      const h = await serveHttp({ engine: options.engine, logger: options.logger, listen: http, ...app } as ServeOptions)
      servers.push(h)
      process.stderr.write(`fcgi: serving ${label} over HTTP on ${describeAddress(h.address)} (engine ${h.engine})\n`)
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()))
    throw err
  }
  return servers
}
