// Option defaults (README "API") and `listen` parsing.
import type { ListenTarget, Protocol, ResolvedOptions } from './engine.ts'
import { validateSocketPermissions } from './socket-permissions.ts'
import { systemdListenFd } from './systemd.ts'
import type { ListenOption, Logger, ServeOptions } from './types.ts'

export const DEFAULTS = {
  listen: 'fcgi.sock',
  maxConns: 10_000,
  maxReqs: 256,
  maxParamsBytes: 1024 * 1024,
  maxParams: 1000,
  maxBodyBytes: Infinity,
  maxUrlBytes: 8192,
  paramsTimeout: 30_000,
  idleTimeout: 60_000,
  closeTimeout: 30_000,
  maxRequests: 0,
  requestTimeout: 0,
} as const

/** serveHttp's idle timeout: browsers, not a front end's connection pool, hold its connections
 * (node:http's keepAliveTimeout is 5 s too). */
export const HTTP_IDLE_TIMEOUT = 5000

export const defaultLogger: Logger = (level, message) => {
  process.stderr.write(`fcgi: ${level}: ${message}\n`)
}

export function resolveOptions(options: ServeOptions, protocol: Protocol = 'fcgi'): ResolvedOptions {
  const defaults = protocol === 'http' ? { ...DEFAULTS, idleTimeout: HTTP_IDLE_TIMEOUT } : DEFAULTS
  const num = (name: keyof typeof DEFAULTS & keyof ServeOptions, min: number): number => {
    const v = options[name] ?? defaults[name]
    if (typeof v !== 'number' || Number.isNaN(v) || v < min) {
      throw new TypeError(`option ${name} must be a number >= ${min}, got ${String(v)}`)
    }
    return v
  }
  const allowed = options.allowedAddresses ?? envAllowList()
  const logger = options.logger ?? defaultLogger
  validateSocketPermissions(options)
  const listen = options.listen ?? DEFAULTS.listen
  return {
    listen: listen === 'systemd' ? { type: 'fd', fd: systemdListenFd((m) => logger('warn', m)) } : parseListen(listen),
    maxConns: num('maxConns', 1),
    maxReqs: num('maxReqs', 1),
    maxParamsBytes: num('maxParamsBytes', 0),
    maxParams: num('maxParams', 0),
    maxBodyBytes: num('maxBodyBytes', 0),
    maxUrlBytes: num('maxUrlBytes', 1),
    paramsTimeout: num('paramsTimeout', 1),
    idleTimeout: num('idleTimeout', 1),
    closeTimeout: num('closeTimeout', 0),
    maxRequests: num('maxRequests', 0),
    requestTimeout: num('requestTimeout', 0),
    allowedAddresses: allowed.map(normalizeAddress),
    logger,
  }
}

function envAllowList(): string[] {
  const env = process.env.FCGI_WEB_SERVER_ADDRS
  return env ? env.split(',').map((s) => s.trim()).filter(Boolean) : []
}

/** IPv4-mapped IPv6 peers (`::ffff:127.0.0.1`) compare as their IPv4 form. */
export function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr
}

export function parseListen(listen: ListenOption): ListenTarget {
  if (typeof listen === 'number') return tcp('127.0.0.1', listen)
  if (typeof listen === 'object' && listen !== null && typeof listen.fd === 'number') {
    return { type: 'fd', fd: listen.fd }
  }
  if (typeof listen !== 'string' || listen === '') throw new TypeError(`invalid listen option ${JSON.stringify(listen)}`)
  const fd = /^fd:(\d+)$/.exec(listen)
  if (fd) return { type: 'fd', fd: Number(fd[1]) }
  if (listen.startsWith('unix:')) return { type: 'unix', path: listen.slice(5) }
  if (/^\d+$/.test(listen)) return tcp('127.0.0.1', Number(listen))
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(listen)
  if (v6) return tcp(v6[1], Number(v6[2]))
  const v4 = /^([A-Za-z0-9.-]+):(\d+)$/.exec(listen)
  if (v4 && !listen.includes('/')) return tcp(v4[1], Number(v4[2]))
  return { type: 'unix', path: listen }
}

function tcp(host: string, port: number): ListenTarget {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`invalid port ${port}`)
  return { type: 'tcp', host, port }
}
