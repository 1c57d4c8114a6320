// The js engine's FastCGI server: accept loop, connection bookkeeping, graceful close.
import net from 'node:net'
import type { EngineServer, ExchangeHandler, ResolvedOptions } from '../../engine.ts'
import { normalizeAddress } from '../../options.ts'
import type { ConnectionHost } from './connection-host.ts'
import { FcgiConnection } from './fcgi-connection.ts'
import { addressOf, listen } from './listen.ts'
import { newStats } from '../../stats.ts'
import { closeGracefully } from './close.ts'

/** Connections past maxConns are still accepted (to answer FCGI_OVERLOADED) up to this many more;
 * the native engine's is fcgi-proto's OVERLOAD_SLACK (crates/fcgi-proto/src/server/config.rs). */
export const OVERLOAD_SLACK = 1024

export async function serveFcgiJs(options: ResolvedOptions, onExchange: ExchangeHandler): Promise<EngineServer> {
  const stats = newStats()
  const conns = new Set<FcgiConnection>()
  let closing = false
  let onIdle: (() => void) | null = null
  const host: ConnectionHost = {
    options,
    stats,
    onExchange,
    log: options.logger,
    connectionClosed: (conn) => {
      conns.delete(conn as FcgiConnection)
      stats.connections--
      if (conns.size === 0) onIdle?.()
    },
  }
  const allowed = new Set(options.allowedAddresses)
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const peer = socket.remoteAddress
    if (closing || conns.size >= options.maxConns + OVERLOAD_SLACK) {
      socket.destroy()
      return
    }
    if (peer && allowed.size > 0 && !allowed.has(normalizeAddress(peer))) {
      options.logger('warn', `connection from ${peer} refused: not in allowedAddresses (FCGI_WEB_SERVER_ADDRS)`)
      stats.errors++
      socket.destroy()
      return
    }
    stats.connections++
    stats.connectionsTotal++
    conns.add(new FcgiConnection(socket, host, conns.size >= options.maxConns))
  })
  server.on('error', (err) => options.logger('error', `listener: ${err.message}`))
  await listen(server, options.listen)
  const address = addressOf(server, options.listen)

  return {
    address,
    stats: () => ({ ...stats }),
    close: (timeout) => {
      closing = true
      return closeGracefully({
        server,
        timeout,
        connections: () => conns,
        setOnIdle: (cb) => (onIdle = cb),
      })
    },
  }
}
