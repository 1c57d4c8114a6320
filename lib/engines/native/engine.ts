// The native engine's JavaScript half: starts a server of the binding (crates/fcgi-node), turns
// its batches of events into Exchanges (batch.ts, exchange.ts) and flushes the responses once
// per wave. Observable behaviour is the js engine's.
import type { Engine, EngineServer, ExchangeHandler, Protocol, ResolvedOptions } from '../../engine.ts'
import type { Address } from '../../types.ts'
import { batchReader } from './batch.ts'
import type { NativeBinding, NativeServerHandle } from './binding.ts'
import type { NativeExchange, ServerHost } from './exchange.ts'
import { listenError, nativeOptions } from './options.ts'

function serveNative(binding: NativeBinding, protocol: Protocol, options: ResolvedOptions, onExchange: ExchangeHandler): EngineServer {
  const requests = new Map<number, NativeExchange>()
  let closed: (() => void) | null = null
  let closedPromise: Promise<void> | null = null
  // batches come on later turns of the event loop, once `host` is set below
  let host: ServerHost
  const onBatch = batchReader(binding, {
    protocol,
    host: () => host,
    onExchange,
    onClosed: () => {
      host.native.release()
      closed?.()
    },
  })
  let native: NativeServerHandle
  try {
    native = new binding.NativeServer(nativeOptions(protocol, options), onBatch)
  } catch (err) {
    throw listenError(err)
  }
  let flushQueued = false
  const flush = () => {
    flushQueued = false
    native.flush()
  }
  host = {
    native,
    logger: options.logger,
    requests,
    scheduleFlush: () => {
      if (flushQueued) return
      flushQueued = true
      queueMicrotask(flush)
    },
  }
  const a = native.address
  const address: Address = a.kind === 'tcp' ? { type: 'tcp', host: a.host ?? '', port: a.port ?? 0 } : { type: 'unix', path: a.path ?? '' }

  return {
    address,
    stats: () => {
      const s = native.stats()
      return {
        connections: s.connections,
        connectionsTotal: s.connectionsTotal,
        requestsActive: s.requestsActive,
        requestsTotal: s.requestsTotal,
        errors: s.errors,
        aborts: s.aborts,
        bytesRead: s.bytesRead,
        bytesWritten: s.bytesWritten,
      }
    },
    close: (timeout) => {
      closedPromise ??= new Promise<void>((resolve) => {
        closed = resolve
        native.close(timeout)
      })
      return closedPromise
    },
  }
}

export function createNativeEngine(binding: NativeBinding): Engine {
  return {
    name: 'native',
    async serve(protocol, options, onExchange) {
      return serveNative(binding, protocol, options, onExchange)
    },
  }
}
