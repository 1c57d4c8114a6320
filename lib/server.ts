// serveFcgi / serveHttp: validate options, pick the engine, wire the handler, wrap the result.
import { dispatchTo } from './dispatch.ts'
import type { Protocol } from './engine.ts'
import { selectEngine } from './engines/select.ts'
import { fetchHandler } from './fetch.ts'
import { nodeHandler } from './node/handler.ts'
import { operations } from './ops/observe.ts'
import { resolveOptions } from './options.ts'
import { applySocketPermissions } from './socket-permissions.ts'
import type { Handler, ServeOptions, Server } from './types.ts'

async function serve(protocol: Protocol, options: ServeOptions): Promise<Server> {
  if (!options || typeof options !== 'object') throw new TypeError('options must be an object')
  const given = [options.handler, options.fetch, options.listener].filter((f) => typeof f === 'function')
  if (given.length !== 1) throw new TypeError('pass exactly one of `handler` or `fetch`, or a node:http `listener`')
  const resolved = resolveOptions(options, protocol)
  const engine = selectEngine(options.engine, resolved.logger)
  const handler: Handler = options.handler ?? (options.fetch ? fetchHandler(options.fetch) : nodeHandler(options.listener!))
  const ops = operations(options, resolved.logger)
  const dispatch = dispatchTo(handler, resolved.logger, resolved)
  const inner = await engine.serve(protocol, resolved, ops ? ops.wrap(dispatch) : dispatch)
  ops?.attach({ engine: engine.name, protocol, address: inner.address, stats: () => inner.stats() })
  // a socket the server bound itself (an inherited one is the unit's, e.g. systemd SocketMode=)
  if (inner.address.type === 'unix' && resolved.listen.type === 'unix') {
    const path = inner.address.path
    await applySocketPermissions(path, options).catch(async (err: Error) => {
      await inner.close(0)
      throw new Error(`listen: ${path}: ${err.message}`, { cause: err })
    })
  }
  let closing: Promise<void> | null = null
  return {
    engine: engine.name,
    address: inner.address,
    stats: () => inner.stats(),
    close: (opts) => (closing ??= inner.close(opts?.timeout ?? resolved.closeTimeout)),
  }
}

/** Serve `handler` (or `fetch`) over FastCGI. */
export function serveFcgi(options: ServeOptions): Promise<Server> {
  return serve('fcgi', options)
}

/** Serve the same handler over plain HTTP/1.1. */
export function serveHttp(options: ServeOptions): Promise<Server> {
  return serve('http', options)
}
