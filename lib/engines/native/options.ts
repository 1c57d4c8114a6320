// The API's resolved options as the native binding takes them, and its listen errors as Node
// would throw them.
import type { Protocol, ResolvedOptions } from '../../engine.ts'
import type { NativeOptions } from './binding.ts'

export function nativeOptions(protocol: Protocol, options: ResolvedOptions): NativeOptions {
  const l = options.listen
  return {
    protocol,
    kind: l.type,
    path: l.type === 'unix' ? l.path : undefined,
    host: l.type === 'tcp' ? l.host : undefined,
    port: l.type === 'tcp' ? l.port : undefined,
    fd: l.type === 'fd' ? l.fd : undefined,
    maxConns: options.maxConns,
    maxReqs: options.maxReqs,
    maxParamsBytes: options.maxParamsBytes,
    maxParams: options.maxParams,
    maxBodyBytes: options.maxBodyBytes,
    maxUrlBytes: options.maxUrlBytes,
    paramsTimeout: options.paramsTimeout,
    idleTimeout: options.idleTimeout,
    allowedAddresses: options.allowedAddresses,
  }
}

/** Rust reports listen errors as `CODE|message`: rethrow them the way Node would. */
export function listenError(err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err)
  const bar = msg.indexOf('|')
  if (bar < 0) return err instanceof Error ? err : new Error(msg)
  return Object.assign(new Error(msg.slice(bar + 1)), { code: msg.slice(0, bar) })
}
