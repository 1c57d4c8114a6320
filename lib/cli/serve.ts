// `fcgi serve <module>`: serve a module's default export over FastCGI (and HTTP with --http).
// The listening flags and the run-until-signal loop are shared with `fcgi cgi`.
import { importUserModule } from '../load-module.ts'
import { serveApp, type App } from '../serve-app.ts'
import { untilStopSignal } from '../stop-signals.ts'
import type { EngineChoice, FetchHandler, Handler, Server } from '../types.ts'
import { help, HELP_OPTION, parseCommandArgs, UsageError, type Command } from './command.ts'

export const LISTEN_OPTIONS = {
  listen: { type: 'string', short: 'l' },
  engine: { type: 'string' },
  http: { type: 'string' },
  'socket-mode': { type: 'string' },
  'socket-owner': { type: 'string' },
  'socket-group': { type: 'string' },
} as const

export const LISTEN_USAGE = `  --listen, -l <addr>   where to serve FastCGI: a unix path (default fcgi.sock), a port, host:port,
                        fd:N (an inherited listening socket) or systemd (socket activation)
  --engine <name>       auto (default; FCGI_ENGINE overrides), native or js
  --http <port|host:port>  also serve the app over HTTP/1.1
  --socket-mode <octal> mode of the unix socket after bind, e.g. 660 (PHP-FPM listen.mode)
  --socket-owner <user> --socket-group <group>  owner and group of the unix socket`

type ListenValues = { [K in keyof typeof LISTEN_OPTIONS]?: string }

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a module (handler, { fetch } or { handler }) over FastCGI',
  usage: `usage: fcgi serve <module> [options]
  Serves the module's default export over FastCGI: a handler function (req, res), an object
  with fetch (Hono and other fetch-style apps) or with handler (what fastcgi(script) returns).
${LISTEN_USAGE}`,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { ...LISTEN_OPTIONS, ...HELP_OPTION })
    if (values.help) return help(this)
    if (positionals.length !== 1) throw new UsageError('serve takes exactly one module')
    const servers = await startServers(positionals[0], await loadApp(positionals[0]), values)
    return runUntilStopped(servers)
  },
}

async function loadApp(module: string): Promise<App> {
  const app = (await importUserModule(module)).default
  if (typeof app === 'function') return { handler: app as Handler }
  if (app && typeof app === 'object') {
    const o = app as { fetch?: unknown; handler?: unknown }
    if (typeof o.fetch === 'function') return { fetch: (o.fetch as FetchHandler).bind(app) }
    if (typeof o.handler === 'function') return { handler: o.handler as Handler }
  }
  throw new Error(`${module}: the default export must be a handler function, { fetch } or { handler }`)
}

/** `--socket-mode 660` / `0o660` / `0660`: always octal, as chmod and PHP-FPM read it. */
function socketMode(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const m = /^(?:0o?)?([0-7]{1,4})$/.exec(value)
  if (!m) throw new UsageError(`--socket-mode must be an octal mode like 660, got ${JSON.stringify(value)}`)
  return Number.parseInt(m[1], 8)
}

/** FastCGI on --listen (default fcgi.sock), and HTTP when --http is given. */
export function startServers(label: string, app: App, values: ListenValues): Promise<Server[]> {
  return serveApp(
    label,
    app,
    {
      listen: values.listen ?? 'fcgi.sock',
      engine: (values.engine ?? 'auto') as EngineChoice,
      socketMode: socketMode(values['socket-mode']),
      socketOwner: values['socket-owner'],
      socketGroup: values['socket-group'],
    },
    values.http,
  )
}

/** The serve loop's signal handling, in one place: SIGTERM/SIGINT close every server
 * gracefully (in-flight requests finish), then the command exits 0. */
export async function runUntilStopped(servers: Server[]): Promise<number> {
  const sig = await untilStopSignal()
  process.stderr.write(`fcgi: ${sig}: finishing in-flight requests\n`)
  await Promise.all(servers.map((s) => s.close()))
  return 0
}
