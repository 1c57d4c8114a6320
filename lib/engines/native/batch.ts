// Decodes the batches of events the Rust core pushes (crates/fcgi-node/src/events.rs): the
// payload bytes, then a table of u32 quadruples [kind | arg << 8, handle, offset, length], then
// the number of events. The codes are the binding's generated enums.
import type { ExchangeHandler, Protocol } from '../../engine.ts'
import type { LogLevel as ApiLogLevel, Role } from '../../types.ts'
import type { AbortReason, LogLevel, NativeBinding, RoleCode } from './binding.ts'
import { NativeExchange, type ServerHost } from './exchange.ts'

export interface BatchTarget {
  protocol: Protocol
  /** The server's host (it exists once the native server started, before any batch comes). */
  host(): ServerHost
  onExchange: ExchangeHandler
  /** The server closed: every connection is gone. */
  onClosed(): void
}

/** The reader of one server's batches; `binding` supplies the codes. */
export function batchReader(binding: NativeBinding, target: BatchTarget): (batch: Buffer) => void {
  const { EventKind: K, ArgFlag: F, AbortReason: A, LogLevel: L, RoleCode: R } = binding
  // the codes as constants for the switch below (the enums are objects of the binding)
  const [REQUEST, STDIN, STDIN_END, DATA, DATA_END, ABORT, DRAIN, LOG, CLOSED] = [K.Request, K.Stdin, K.StdinEnd, K.Data, K.DataEnd, K.Abort, K.Drain, K.Log, K.Closed]
  const [PARAMS_ASCII, STDIN_ENDED, SIGNAL_ONLY] = [F.ParamsAscii, F.StdinEnded, F.SignalOnly]
  const roles: Record<RoleCode, Role> = { [R.Responder]: 'responder', [R.Authorizer]: 'authorizer', [R.Filter]: 'filter' }
  // the js engine's words: `request aborted: <why>`
  const abortWords: Record<AbortReason, string> = {
    [A.AbortRecord]: 'FCGI_ABORT_REQUEST',
    [A.ConnectionClosed]: 'connection closed',
    [A.ConnectionLost]: 'connection lost',
    [A.BodyTooLarge]: 'body larger than maxBodyBytes',
    [A.ClientClosed]: 'client connection closed',
  }
  const levels: Record<LogLevel, ApiLogLevel> = { [L.Info]: 'info', [L.Warn]: 'warn', [L.Error]: 'error' }
  const { protocol, onExchange } = target

  return (batch: Buffer): void => {
    const host = target.host()
    const { requests, logger } = host
    const len = batch.length
    if (len < 4) return
    const n = batch.readUInt32LE(len - 4)
    if (n === 0) return
    const metaOff = len - 4 - n * 16
    const meta =
      (batch.byteOffset + metaOff) % 4 === 0
        ? new Uint32Array(batch.buffer, batch.byteOffset + metaOff, n * 4)
        : new Uint32Array(Uint8Array.prototype.slice.call(batch, metaOff, len - 4).buffer)
    for (let i = 0; i < n * 4; i += 4) {
      const word = meta[i]
      const kind = word & 0xff
      const arg = word >>> 8
      const handle = meta[i + 1]
      const off = meta[i + 2]
      const size = meta[i + 3]
      try {
        switch (kind) {
          case REQUEST: {
            const role = roles[((arg >>> 16) & 3) as RoleCode] ?? 'responder'
            // HTTP requests have no FastCGI id: the handle numbers them (the js engine counts)
            const id = protocol === 'http' ? handle : arg & 0xffff
            const ex = new NativeExchange(host, protocol, handle, role, id, batch.subarray(off, off + size), (arg & PARAMS_ASCII) !== 0)
            if (arg & STDIN_ENDED) ex.stdin.end()
            requests.set(handle, ex)
            onExchange(ex)
            break
          }
          case STDIN:
          case DATA: {
            const ex = requests.get(handle)
            if (ex) ex.push(kind === STDIN ? ex.stdin : ex.data, batch.subarray(off, off + size))
            break
          }
          case STDIN_END:
            requests.get(handle)?.stdin.end()
            break
          case DATA_END:
            requests.get(handle)?.data.end()
            break
          case ABORT:
            if (arg & SIGNAL_ONLY) requests.get(handle)?.clientGone()
            else requests.get(handle)?.aborted(abortWords[arg as AbortReason] ?? 'connection lost')
            break
          case DRAIN:
            requests.get(handle)?.wakeDrain()
            break
          case LOG:
            logger(levels[arg as LogLevel] ?? 'info', batch.toString('utf8', off, off + size))
            break
          case CLOSED:
            target.onClosed()
            break
        }
      } catch (err) {
        logger('error', `native engine: event ${kind} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
      }
    }
  }
}
