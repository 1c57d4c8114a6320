// The boundary between the API layer (requests, responses, handlers) and an engine (sockets,
// bytes, protocol). An engine turns each incoming request into an `Exchange` and hands it to
// `onExchange`; the API layer answers through the exchange's `ResponseSink`.
import type { BodyStream } from './body.ts'
import type { Address, EngineName, Logger, Role, ServerStats } from './types.ts'

export type Protocol = 'fcgi' | 'http'

export interface ResolvedOptions {
  listen: ListenTarget
  maxConns: number
  maxReqs: number
  maxParamsBytes: number
  maxParams: number
  maxBodyBytes: number
  maxUrlBytes: number
  paramsTimeout: number
  idleTimeout: number
  closeTimeout: number
  /** applied above the engines (lib/request-guard.ts) */
  maxRequests: number
  requestTimeout: number
  allowedAddresses: string[]
  logger: Logger
}

export type ListenTarget =
  | { type: 'unix'; path: string }
  | { type: 'tcp'; host: string; port: number }
  | { type: 'fd'; fd: number }

/** A response head: status and a flat list of header names and values. */
export interface ResponseHead {
  status: number
  headers: [name: string, value: string][]
}

export interface ResponseSink {
  /** Send the head (first call only, else null), a body chunk (or null) and whether this ends
   * the response, in one call. Returns false when the caller should wait for `drain()`. */
  send(head: ResponseHead | null, body: Uint8Array | null, end: boolean): boolean
  /** Resolves once the engine's buffer for this response has room again. */
  drain(): Promise<void>
  /** FastCGI: FCGI_STDERR; HTTP: the server's log. */
  stderr(chunk: Uint8Array): void
  /** Cut the response after an error: FastCGI END_REQUEST appStatus 1, HTTP closes the
   * connection (or answers 500 when no head was sent yet is the API layer's job). */
  abort(): void
}

export interface Exchange {
  protocol: Protocol
  role: Role
  id: number
  /** CGI meta-variables. Engines may compute it lazily (getter). */
  readonly params: Record<string, string>
  /** REQUEST_METHOD and REQUEST_URI where the engine has them without building `params`
   * (HTTP): `req.method` and `req.url` then cost nothing. */
  readonly method?: string
  readonly uri?: string
  stdin: BodyStream
  data: BodyStream
  signal: AbortSignal
  sink: ResponseSink
}

export type ExchangeHandler = (exchange: Exchange) => void

export interface EngineServer {
  readonly address: Address
  stats(): ServerStats
  /** Stop accepting; resolve when every connection is closed. After `timeout` ms, abort the
   * requests still running and close their connections. */
  close(timeout: number): Promise<void>
}

export interface Engine {
  readonly name: EngineName
  serve(protocol: Protocol, options: ResolvedOptions, onExchange: ExchangeHandler): Promise<EngineServer>
}
