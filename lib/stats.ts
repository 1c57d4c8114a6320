import type { ServerStats } from './types.ts'

export function newStats(): ServerStats {
  return {
    connections: 0,
    connectionsTotal: 0,
    requestsActive: 0,
    requestsTotal: 0,
    errors: 0,
    aborts: 0,
    bytesRead: 0,
    bytesWritten: 0,
  }
}
