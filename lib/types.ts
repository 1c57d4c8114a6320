// Public types of the `fcgi` package. Names here are a contract (README "API").
import type { FcgiRequest } from './request.ts'
import type { FcgiResponse } from './response.ts'

export type Role = 'responder' | 'authorizer' | 'filter'
export type EngineName = 'native' | 'js'
export type EngineChoice = EngineName | 'auto'

/** A unix socket path (`'fcgi.sock'`, `'unix:/run/app.sock'`), a TCP port on 127.0.0.1,
 * `'host:port'` / `'[::1]:port'`, or an inherited listening socket `{ fd: 0 }`. */
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
  /** Milliseconds a connection with no active request may stay silent. Default 60 000. */
  idleTimeout?: number
  /** Milliseconds `close()` waits for in-flight requests before aborting them. Default 30 000. */
  closeTimeout?: number
  /** TCP peers allowed to connect (FCGI_WEB_SERVER_ADDRS). Default: that env var; empty = all. */
  allowedAddresses?: string[]
}

interface ServeCommon extends Limits {
  /** Where to listen. Default `'fcgi.sock'`. */
  listen?: ListenOption
  /** Which engine runs the server. `'auto'` (default) prefers native; env FCGI_ENGINE overrides auto. */
  engine?: EngineChoice
  /** Where log lines go. Default: stderr with a `fcgi:` prefix. */
  logger?: Logger
}

export type ServeOptions =
  | (ServeCommon & { handler: Handler; fetch?: undefined })
  | (ServeCommon & { fetch: FetchHandler; handler?: undefined })

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
