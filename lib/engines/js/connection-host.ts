// What a js-engine connection needs from its server: options, counters, the exchange handler.
import type { ExchangeHandler, ResolvedOptions } from '../../engine.ts'
import type { LogLevel, ServerStats } from '../../types.ts'

export interface ConnectionHost {
  readonly options: ResolvedOptions
  readonly stats: ServerStats
  readonly onExchange: ExchangeHandler
  log(level: LogLevel, message: string): void
  connectionClosed(conn: { activeRequests: number }): void
}
