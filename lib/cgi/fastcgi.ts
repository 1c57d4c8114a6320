// `fastcgi(script)`: returns `{ handler }` (what serveFcgi, serveHttp and `fcgi serve` take) and,
// when called from the file node was started with (`node server.mjs`), also serves it over
// FastCGI at once, as the original decorator did: on ./fcgi.sock, or `--listen <addr>` from the
// command line, or FCGI_LISTEN from the environment; `--http <port>` adds plain HTTP.
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { serveApp, type AppOptions } from '../serve-app.ts'
import { untilStopSignal } from '../stop-signals.ts'
import type { Handler, Server } from '../types.ts'
import { scriptHandler, type CgiScript } from './script.ts'

export type FastcgiOptions = AppOptions

export interface FastcgiApp {
  handler: Handler
  /** The FastCGI server, when the calling file is the entry point (else null). */
  server: Promise<Server> | null
}

export function fastcgi(script: CgiScript, options: FastcgiOptions = {}): FastcgiApp {
  if (typeof script !== 'function') throw new TypeError('fastcgi(script): script must be a function')
  const handler = scriptHandler(script)
  const caller = callerFile()
  if (!caller || !isEntryPoint(caller)) return { handler, server: null }
  const server = serveDirectly(handler, options, caller)
  server.catch((err: Error) => {
    process.stderr.write(`fcgi: ${err.message}\n`)
    process.exitCode = 1
  })
  return { handler, server }
}

/** The file of the function that called fastcgi(), from V8's structured stack. */
function callerFile(): string | null {
  const prepare = Error.prepareStackTrace
  const limit = Error.stackTraceLimit
  try {
    Error.prepareStackTrace = (_err, frames) => frames
    Error.stackTraceLimit = 4
    const frames = new Error().stack as unknown as NodeJS.CallSite[]
    // [0] callerFile, [1] fastcgi, [2] the module that called fastcgi()
    const name = frames[2]?.getFileName()
    if (!name) return null
    return name.startsWith('file:') ? fileURLToPath(name) : name
  } finally {
    Error.prepareStackTrace = prepare
    Error.stackTraceLimit = limit
  }
}

/** The rule: the calling file is the entry point when it is `process.argv[1]` (after resolving
 * symlinks), or is that path plus a .js/.mjs/.cjs/.ts/.mts/.cts extension (`node server`). */
function isEntryPoint(file: string): boolean {
  const main = process.argv[1]
  if (!main) return false
  const real = (p: string) => {
    try {
      return realpathSync(p)
    } catch {
      return resolve(p)
    }
  }
  const target = real(main)
  const self = real(file)
  return self === target || self.replace(/\.[cm]?[jt]s$/, '') === target
}

async function serveDirectly(handler: Handler, options: FastcgiOptions, file: string): Promise<Server> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { listen: { type: 'string' }, http: { type: 'string' } },
    strict: false,
    allowPositionals: true,
  })
  const listen = (typeof values.listen === 'string' && values.listen) || process.env.FCGI_LISTEN || options.listen || './fcgi.sock'
  const servers = await serveApp(file, { handler }, { ...options, listen }, typeof values.http === 'string' ? values.http : undefined)
  void untilStopSignal().then(async (sig) => {
    process.stderr.write(`fcgi: ${sig}: finishing in-flight requests\n`)
    await Promise.all(servers.map((s) => s.close()))
  })
  return servers[0]
}
