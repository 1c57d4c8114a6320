// serveFcgi / serveHttp: validate options, pick the engine, wire the handler, wrap the result.
import { dispatchTo } from './dispatch.ts'
import type { Protocol } from './engine.ts'
import { selectEngine } from './engines/select.ts'
import { fetchHandler } from './fetch.ts'
import { resolveOptions } from './options.ts'
import type { Handler, ServeOptions, Server } from './types.ts'

async function serve(protocol: Protocol, options: ServeOptions): Promise<Server> {
  if (!options || typeof options !== 'object') throw new TypeError('options must be an object')
  const hasHandler = typeof options.handler === 'function'
  const hasFetch = typeof options.fetch === 'function'
  if (hasHandler === hasFetch) throw new TypeError('pass exactly one of `handler` or `fetch`')
  const resolved = resolveOptions(options)
  const engine = selectEngine(options.engine)
  const handler: Handler = options.handler ?? fetchHandler(options.fetch!)
  const inner = await engine.serve(protocol, resolved, dispatchTo(handler, resolved.logger))
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
