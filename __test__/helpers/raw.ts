// Raw FastCGI over a real socket, for tests that send exact (and broken) bytes and assert the
// exact records that come back.
import net from 'node:net'
import { RecordParser, Type, beginRequestBody, encodePairs } from '../../lib/fastcgi/codec.ts'

export { Type }

export interface Rec {
  type: number
  id: number
  content: Buffer
}

/** One record with explicit padding (the server must accept any 0..255). */
export function rec(type: number, id: number, content: Uint8Array | string = Buffer.alloc(0), padding?: number): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content)
  const pad = padding ?? (8 - (body.length % 8)) % 8
  const h = Buffer.alloc(8)
  h[0] = 1
  h[1] = type
  h.writeUInt16BE(id, 2)
  h.writeUInt16BE(body.length, 4)
  h[6] = pad
  return Buffer.concat([h, body, Buffer.alloc(pad, 0xee)])
}

export function begin(id: number, opts: { role?: number; keepConn?: boolean } = {}): Buffer {
  return rec(Type.BeginRequest, id, beginRequestBody(opts.role ?? 1, opts.keepConn ?? true))
}

export function params(id: number, pairs: Record<string, string>): Buffer {
  const body = encodePairs(Object.entries(pairs))
  return Buffer.concat([body.length ? rec(Type.Params, id, body) : Buffer.alloc(0), rec(Type.Params, id)])
}

export function stdin(id: number, body: string | Buffer = ''): Buffer {
  return Buffer.concat([body.length ? rec(Type.Stdin, id, body) : Buffer.alloc(0), rec(Type.Stdin, id)])
}

/** A whole GET request: begin, params, empty stdin. */
export function request(id: number, uri = '/', opts: { keepConn?: boolean; method?: string; body?: string } = {}): Buffer {
  return Buffer.concat([
    begin(id, { keepConn: opts.keepConn ?? true }),
    params(id, { REQUEST_METHOD: opts.method ?? 'GET', REQUEST_URI: uri, CONTENT_LENGTH: String(opts.body?.length ?? 0) }),
    stdin(id, opts.body ?? ''),
  ])
}

export class RawConnection {
  readonly socket: net.Socket
  readonly records: Rec[] = []
  readonly raw: Buffer[] = []
  closed = false
  private readonly parser = new RecordParser()
  private waiters: (() => void)[] = []
  readonly closedPromise: Promise<void>

  constructor(target: string | { port: number; host: string }) {
    this.socket = typeof target === 'string' ? net.connect(target) : net.connect(target.port, target.host)
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk: Buffer) => {
      this.raw.push(chunk)
      try {
        this.parser.feed(chunk, (r) => {
          this.records.push({ type: r.type, id: r.id, content: Buffer.from(r.content) })
        })
      } catch {
        // the test asserts on `raw` when the server sends garbage (it never should)
      }
      this.wake()
    })
    this.closedPromise = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true
        this.wake()
        resolve()
      }),
    )
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve()
      this.socket.once('connect', resolve)
      this.socket.once('error', reject)
    })
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** Wait until `pred` holds over the records so far (or the connection closed). */
  async until(pred: (recs: Rec[]) => boolean, timeoutMs = 5000): Promise<Rec[]> {
    const deadline = Date.now() + timeoutMs
    while (!pred(this.records)) {
      if (this.closed) throw new Error(`connection closed; records so far: ${describe(this.records)}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out; records so far: ${describe(this.records)}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    return this.records
  }

  /** Wait for END_REQUEST of `id`. */
  endOf(id: number, timeoutMs?: number): Promise<Rec[]> {
    return this.until((recs) => recs.some((r) => r.type === Type.EndRequest && r.id === id), timeoutMs)
  }

  /** Resolves true if the server closes the connection within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([
      this.closedPromise.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ])
    clearTimeout(timer)
    return result
  }

  destroy(): void {
    this.socket.destroy()
  }
}

export function describe(recs: Rec[]): string {
  return recs.map((r) => `${r.type}#${r.id}(${r.content.length})`).join(' ')
}

export function stdoutOf(recs: Rec[], id: number): string {
  return Buffer.concat(recs.filter((r) => r.type === Type.Stdout && r.id === id).map((r) => r.content)).toString()
}

export function endRequest(recs: Rec[], id: number): { appStatus: number; protocolStatus: number } | null {
  const r = recs.find((x) => x.type === Type.EndRequest && x.id === id)
  return r ? { appStatus: r.content.readUInt32BE(0), protocolStatus: r.content[4] } : null
}
