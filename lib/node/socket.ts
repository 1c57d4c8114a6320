// The `socket` a node:http listener sees under the adapter. There is no socket of its own (the
// engine owns the connection, possibly shared by many requests), so this stub carries what apps
// read from one (peer and local addresses, `encrypted` for HTTPS: Express's `req.ip`,
// `req.protocol`, Koa's `ctx.ip`) and the lifetime events `on-finished` watches: it stays
// readable and writable while the request runs and is destroyed (emitting 'close') when the
// response finished or the request was aborted.
import { Duplex } from 'node:stream'

export class ExchangeSocket extends Duplex {
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly localAddress: string | undefined
  readonly localPort: number | undefined
  /** Set for HTTPS, as on a `tls.TLSSocket` (what Express and Koa test for `req.protocol`). */
  readonly encrypted: true | undefined
  /** Called once when the app destroys the socket (`res.destroy()`, `req.destroy()`). */
  onDestroy: ((err: Error | null) => void) | null = null

  constructor(params: Record<string, string>) {
    super()
    this.remoteAddress = params.REMOTE_ADDR || undefined
    this.remotePort = port(params.REMOTE_PORT)
    this.localAddress = params.SERVER_ADDR || undefined
    this.localPort = port(params.SERVER_PORT)
    const https = params.HTTPS === 'on' || params.HTTPS === '1' || params.REQUEST_SCHEME === 'https'
    this.encrypted = https ? true : undefined
  }

  override _read(): void {}

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    callback() // node:http would write its own framing here; the adapter never lets it
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const hook = this.onDestroy
    this.onDestroy = null
    hook?.(err)
    callback(err)
  }

  // net.Socket's knobs that middleware calls; the engine owns the real connection's timeouts.
  setTimeout(_ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback)
    return this
  }

  setNoDelay(): this {
    return this
  }

  setKeepAlive(): this {
    return this
  }

  address(): { address: string; port: number; family: string } | Record<string, never> {
    if (!this.localAddress || this.localPort === undefined) return {}
    return { address: this.localAddress, port: this.localPort, family: this.localAddress.includes(':') ? 'IPv6' : 'IPv4' }
  }
}

function port(value: string | undefined): number | undefined {
  const n = Number(value)
  return value && Number.isInteger(n) ? n : undefined
}
