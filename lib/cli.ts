// The `fcgi` command: `serve` an app module, `request` a FastCGI server like cgi-fcgi/curl -i.
import { readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { FcgiClient } from './client.ts'
import { importUserModule } from './load-module.ts'
import { serveFcgi, serveHttp } from './server.ts'
import type { EngineChoice, FetchHandler, Handler, ListenOption, Server, ServeOptions } from './types.ts'

const USAGE = `usage:
  fcgi serve <module> [--listen <path|port|host:port|fd:N>] [--engine auto|native|js] [--http <port|host:port>]
      serves the module's default export (a handler function, or { fetch } / { handler })
      over FastCGI (default listen: fcgi.sock); --http also serves it over HTTP/1.1
  fcgi request <address> <path> [-X METHOD] [-d BODY|@file] [-H 'Name: value']...
      sends one FastCGI request and prints the response like curl -i`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === 'serve') return serve(rest)
  if (command === 'request') return request(rest)
  process.stderr.write(`${USAGE}\n`)
  return command === '--help' || command === '-h' ? 0 : 2
}

function parseFlags(args: string[], withValue: Set<string>): { positional: string[]; flags: Map<string, string[]> } {
  const positional: string[] = []
  const flags = new Map<string, string[]>()
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (withValue.has(a)) {
      if (i + 1 >= args.length) throw new Error(`${a} needs a value`)
      flags.set(a, [...(flags.get(a) ?? []), args[++i]])
    } else if (a.startsWith('-') && a !== '-') throw new Error(`unknown option ${a}`)
    else positional.push(a)
  }
  return { positional, flags }
}

/** `fd:N` names an inherited descriptor (lighttpd bin-path / spawn-fcgi pass the socket as fd 0). */
export function cliListen(value: string): ListenOption {
  const fd = /^fd:(\d+)$/.exec(value)
  return fd ? { fd: Number(fd[1]) } : value
}

async function loadApp(module: string): Promise<{ handler: Handler } | { fetch: FetchHandler }> {
  const app = (await importUserModule(module)).default
  if (typeof app === 'function') return { handler: app as Handler }
  if (app && typeof app === 'object') {
    const o = app as { fetch?: unknown; handler?: unknown }
    if (typeof o.fetch === 'function') return { fetch: (o.fetch as FetchHandler).bind(app) }
    if (typeof o.handler === 'function') return { handler: o.handler as Handler }
  }
  throw new Error(`${module}: the default export must be a handler function, { fetch } or { handler }`)
}

async function serve(args: string[]): Promise<number> {
  const { positional, flags } = parseFlags(args, new Set(['--listen', '--engine', '--http']))
  if (positional.length !== 1) throw new Error('serve takes exactly one module')
  const app = await loadApp(positional[0])
  const engine = (flags.get('--engine')?.[0] ?? 'auto') as EngineChoice
  const servers: Server[] = []
  const fcgi = await serveFcgi({ ...app, engine, listen: cliListen(flags.get('--listen')?.[0] ?? 'fcgi.sock') } as ServeOptions)
  servers.push(fcgi)
  process.stderr.write(`fcgi: serving ${positional[0]} over FastCGI on ${describeAddress(fcgi)} (engine ${fcgi.engine})\n`)
  const http = flags.get('--http')?.[0]
  if (http) {
    const h = await serveHttp({ ...app, engine, listen: cliListen(http) } as ServeOptions)
    servers.push(h)
    process.stderr.write(`fcgi: serving ${positional[0]} over HTTP on ${describeAddress(h)} (engine ${h.engine})\n`)
  }
  await new Promise<void>((resolveStop) => {
    const stop = (sig: string) => {
      process.stderr.write(`fcgi: ${sig}: finishing in-flight requests\n`)
      resolveStop()
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  await Promise.all(servers.map((s) => s.close()))
  return 0
}

function describeAddress(s: Server): string {
  const a = s.address
  return a.type === 'unix' ? a.path : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}

async function request(args: string[]): Promise<number> {
  const { positional, flags } = parseFlags(args, new Set(['-X', '-d', '-H']))
  if (positional.length !== 2) throw new Error('request takes <address> <path>')
  const [address, path] = positional
  const headers: Record<string, string> = {}
  for (const h of flags.get('-H') ?? []) {
    const colon = h.indexOf(':')
    if (colon <= 0) throw new Error(`bad header ${JSON.stringify(h)}: use 'Name: value'`)
    headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim()
  }
  const d = flags.get('-d')?.[0]
  const body = d === undefined ? undefined : d.startsWith('@') ? readFileSync(d.slice(1)) : Buffer.from(d)
  const client = new FcgiClient(cliListen(address), { keepConn: false })
  try {
    const res = await client.stream({ method: flags.get('-X')?.[0], path, headers, body })
    let head = `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`.trimEnd() + '\r\n'
    for (const [name, value] of res.rawHeaders) head += `${name}: ${value}\r\n`
    process.stdout.write(head + '\r\n')
    for await (const chunk of res.body) {
      if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r))
    }
    const end = await res.end
    if (end.stderr) process.stderr.write(end.stderr)
    return end.appStatus === 0 && end.protocolStatus === 0 ? 0 : 1
  } finally {
    client.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: Error) => {
    process.stderr.write(`fcgi: ${err.message}\n`)
    process.exitCode = 2
  },
)
