// Public types of the `fcgi` package. Names here are a contract (README "API").
import type { FcgiRequest } from './request.ts'
import type { FcgiResponse } from './response.ts'
import type { NodeListener } from './node/handler.ts'
import type { SocketPermissions } from './socket-permissions.ts'

export type Role = 'responder' | 'authorizer' | 'filter'
export type EngineName = 'native' | 'js'
export type EngineChoice = EngineName | 'auto'

/** A unix socket path (`'fcgi.sock'`, `'unix:/run/app.sock'`), a TCP port on 127.0.0.1,
 * `'host:port'` / `'[::1]:port'`, an inherited listening socket `{ fd: 0 }` / `'fd:0'`, or
 * `'systemd'` (socket activation: LISTEN_FDS / LISTEN_PID, fd 3). */
export type ListenOption = string | number | { fd: number }

export type Address =
  | { type: 'unix'; path: string }
  | { type: 'tcp'; host: string; port: number }

export type Handler = (req: FcgiRequest, res: FcgiResponse) => unknown

export interface FetchContext {
  params: Record<string, string>
  role: Role
  /** The Filter role's FCGI_DATA stream (empty for other roles). */
  data: AsyncIterable<Buffer>
}
export type FetchHandler = (request: Request, ctx: FetchContext) => Response | Promise<Response>

export type LogLevel = 'info' | 'warn' | 'error'
export type Logger = (level: LogLevel, message: string) => void

export interface Limits {
  /** Most concurrent connections (FCGI_MAX_CONNS). Default 10 000. */
  maxConns?: number
  /** Most concurrent requests on one connection (FCGI_MAX_REQS). Default 256. */
  maxReqs?: number
  /** Most bytes of params per request. Default 1 MiB. */
  maxParamsBytes?: number
  /** Most name-value pairs per request. Default 1000. */
  maxParams?: number
  /** HTTP only: longest request target (URL); longer gets 414. Default 8 KiB. */
  maxUrlBytes?: number
  /** Most bytes of request body (stdin). Default unlimited. */
  maxBodyBytes?: number
  /** Milliseconds from BEGIN_REQUEST until the params must be complete. Default 30 000. */
  paramsTimeout?: number
  /** Milliseconds a connection with no active request may stay silent. Default 60 000 for
   * FastCGI (a front end's pool), 5 000 for HTTP (browsers; node:http's keepAliveTimeout). */
  idleTimeout?: number
  /** Milliseconds `close()` waits for in-flight requests before aborting them. Default 30 000. */
  closeTimeout?: number
  /** Most requests in flight in this server, all connections together; one more is answered 503
   * with `Retry-After: 1` without running the handler. Default 0: no limit. */
  maxRequests?: number
  /** Milliseconds a handler has to end its response; then `req.signal` aborts and the client gets
   * 504 (or, once the head went out, a cut response). Default 0: no limit. */
  requestTimeout?: number
  /** TCP peers allowed to connect (FCGI_WEB_SERVER_ADDRS). Default: that env var; empty = all. */
  allowedAddresses?: string[]
}

/** The status page (PHP-FPM's `pm.status_path`): answered by the library before the handler. */
export interface StatusOptions {
  /** The request path that gets the page, e.g. `'/status'` (`?json`, `?full` select the form). */
  path: string
  /** The name shown as `pool`. Default `'www'`, as PHP-FPM's default pool. */
  pool?: string
}

/** One finished request, as the access log sees it. */
export interface AccessLogEntry {
  /** When the request was dispatched. */
  time: Date
  remoteAddr: string
  /** REMOTE_USER (set by the front end's authentication), or `''`. */
  remoteUser: string
  method: string
  url: string
  /** SERVER_PROTOCOL, e.g. `'HTTP/1.1'`. */
  httpVersion: string
  /** The status sent; 0 when the request ended before a head went out. */
  status: number
  /** Response body bytes handed to the engine. */
  bytes: number
  /** From dispatch to the end of the response (or the abort), in milliseconds. */
  durationMs: number
  referer: string
  userAgent: string
  /** The client went away or the response was cut before it ended normally. */
  aborted: boolean
}

export type AccessLogFormat = 'combined' | 'json'
/** `'combined'` (Apache's combined format) or `'json'` (one object a line) to stdout, a
 * `{ format, stream }` pair, or a function that gets each entry. */
export type AccessLogOption =
  | AccessLogFormat
  | { format?: AccessLogFormat; stream: { write(line: string): unknown } }
  | ((entry: AccessLogEntry) => void)

/** The slow-request log (PHP-FPM's `request_slowlog_timeout`). */
export interface SlowlogOptions {
  /** A request still running this many milliseconds after dispatch is logged (once, while it
   * runs, through `logger` at 'warn'), and again with its total time when it ends. */
  thresholdMs: number
}

export interface ServeCommon extends Limits, SocketPermissions {
  /** Where to listen. Default `'fcgi.sock'`. */
  listen?: ListenOption
  /** Which engine runs the server. `'auto'` (default) prefers native; env FCGI_ENGINE overrides auto. */
  engine?: EngineChoice
  /** Where log lines go. Default: stderr with a `fcgi:` prefix. */
  logger?: Logger
  /** Serve a PHP-FPM-style status page on this path. Off by default. */
  status?: StatusOptions
  /** One line per request. Off by default. */
  accessLog?: AccessLogOption
  /** Log requests that run longer than a threshold. Off by default. */
  slowlog?: SlowlogOptions
}

/** Exactly one of `handler`, `fetch` (a WHATWG fetch function) or `listener` (a node:http
 * request listener: an Express app, Koa's `app.callback()`). */
export type ServeOptions =
  | (ServeCommon & { handler: Handler; fetch?: undefined; listener?: undefined })
  | (ServeCommon & { fetch: FetchHandler; handler?: undefined; listener?: undefined })
  | (ServeCommon & { listener: NodeListener; handler?: undefined; fetch?: undefined })

export interface ServerStats {
  /** Connections open now. */
  connections: number
  /** Connections accepted since start. */
  connectionsTotal: number
  /** Requests whose handler is running or whose response is not finished. */
  requestsActive: number
  /** Requests dispatched since start. */
  requestsTotal: number
  /** Protocol errors, handler errors, rejected requests. */
  errors: number
  /** Requests aborted (ABORT_REQUEST, connection loss, forced close). */
  aborts: number
  bytesRead: number
  bytesWritten: number
}

export interface CloseOptions {
  /** Milliseconds to wait for in-flight requests before aborting them. Default: `closeTimeout`. */
  timeout?: number
}

export interface Server {
  /** The engine that actually runs. */
  readonly engine: EngineName
  readonly address: Address
  stats(): ServerStats
  /** Stop accepting, let in-flight requests finish, close idle connections, then resolve. */
  close(options?: CloseOptions): Promise<void>
}
