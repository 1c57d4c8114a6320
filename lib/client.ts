// A FastCGI client (like cgi-fcgi): keep-conn connection reuse, multiplexing, streamed request
// and response bodies, the response parsed into status, headers and body. The tests use it and
// the CLI's `fcgi request` exposes it.
import net from 'node:net'
import { BodyStream } from './body.ts'
import { findHeadEnd, splitHeaderLines } from './cgi/output.ts'
import {
  ProtocolError,
  RecordParser,
  RoleCode,
  Type,
  beginRequestBody,
  decodePairs,
  encodePairs,
  pushRecord,
  pushStream,
} from './fastcgi/codec.ts'
import { parseListen } from './options.ts'
import type { Address, ListenOption, Role } from './types.ts'

export interface ClientRequest {
  method?: string
  /** REQUEST_URI: path and query. Default '/'. */
  path?: string
  /** HTTP request headers; sent as HTTP_* params (CONTENT_TYPE / CONTENT_LENGTH as such). */
  headers?: Record<string, string>
  /** Extra params, or overrides of the ones the client derives. */
  params?: Record<string, string>
  body?: string | Uint8Array | AsyncIterable<Uint8Array>
  /** Filter role: the FCGI_DATA stream. */
  data?: string | Uint8Array | AsyncIterable<Uint8Array>
  role?: Role
  /** Aborting sends FCGI_ABORT_REQUEST. */
  signal?: AbortSignal
}

export interface ResponseEnd {
  appStatus: number
  /** 0 complete, 1 can't multiplex, 2 overloaded, 3 unknown role. */
  protocolStatus: number
  stderr: string
}

export interface StreamedResponse {
  /** From the `Status:` header (200 when absent); 0 when the request ended with no output. */
  status: number
  headers: Record<string, string>
  rawHeaders: [string, string][]
  body: AsyncIterable<Buffer>
  /** Resolves with END_REQUEST's values once the response is complete. */
  end: Promise<ResponseEnd>
}

export interface ClientResponse extends ResponseEnd {
  status: number
  headers: Record<string, string>
  rawHeaders: [string, string][]
  body: Buffer
}

export interface ClientOptions {
  /** Send FCGI_KEEP_CONN and reuse connections. Default true. */
  keepConn?: boolean
  /** Run every request on one connection at once (FCGI_MPXS_CONNS). Default false. */
  multiplex?: boolean
}

const ROLE_CODES: Record<Role, number> = { responder: RoleCode.Responder, authorizer: RoleCode.Authorizer, filter: RoleCode.Filter }

export class FcgiClient {
  private readonly idle: ClientConnection[] = []
  private readonly all = new Set<ClientConnection>()
  private readonly target: Address
  private readonly keepConn: boolean
  private readonly multiplex: boolean
  private shared: Promise<ClientConnection> | null = null

  /** `address`: what `listen` takes (path, port, 'host:port') or a server's `address`. */
  constructor(address: ListenOption | Address, options: ClientOptions = {}) {
    const target = typeof address === 'object' && 'type' in address ? address : parseListen(address)
    if (target.type === 'fd') throw new TypeError('the client connects to a path or host:port, not an fd')
    this.target = target
    this.keepConn = options.keepConn ?? true
    this.multiplex = options.multiplex ?? false
  }

  /** Send a request and collect the whole response. */
  async request(req: ClientRequest = {}): Promise<ClientResponse> {
    const res = await this.stream(req)
    const parts: Buffer[] = []
    for await (const chunk of res.body) parts.push(chunk)
    const end = await res.end
    return { status: res.status, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(parts), ...end }
  }

  /** Send a request; resolves once the response head is parsed, the body streams. */
  async stream(req: ClientRequest = {}): Promise<StreamedResponse> {
    const conn = await this.connection()
    return conn.send(req, this.keepConn)
  }

  /** FCGI_GET_VALUES on a fresh connection. */
  async getValues(names: string[]): Promise<Record<string, string>> {
    const conn = await this.open()
    try {
      return await conn.getValues(names)
    } finally {
      conn.destroy()
    }
  }

  /** Close every connection. */
  close(): void {
    for (const c of this.all) c.destroy()
    this.idle.length = 0
  }

  private async connection(): Promise<ClientConnection> {
    if (this.multiplex) {
      // one shared connection; concurrent callers wait for the same connect
      const shared = this.shared && (await this.shared.catch(() => null))
      if (shared?.usable) return shared
      this.shared = this.open()
      return this.shared
    }
    for (let c = this.idle.pop(); c; c = this.idle.pop()) if (c.usable) return c
    return this.open()
  }

  private async open(): Promise<ClientConnection> {
    const t = this.target
    const socket = t.type === 'unix' ? net.connect(t.path) : net.connect(t.port, t.host)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const conn = new ClientConnection(socket, (c) => {
      if (this.keepConn && !this.multiplex && c.usable) this.idle.push(c)
    })
    this.all.add(conn)
    socket.once('close', () => this.all.delete(conn))
    return conn
  }
}

interface Pending {
  /** Output before the head is complete. */
  stdout: Buffer[]
  head: { status: number; headers: Record<string, string>; rawHeaders: [string, string][] } | null
  body: BodyStream
  stderr: Buffer[]
  /** Called once `head` is set: resolves the caller's promise. */
  onHead: () => void
  onEnd: (e: ResponseEnd) => void
  fail: (err: Error) => void
}

class ClientConnection {
  private readonly parser = new RecordParser()
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private valuesWaiter: ((v: Record<string, string>) => void) | null = null
  private broken: Error | null = null

  constructor(
    private readonly socket: net.Socket,
    private readonly onFree: (c: ClientConnection) => void,
  ) {
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.failAll(err))
    socket.on('close', () => this.failAll(new Error('connection closed by the server')))
  }

  get usable(): boolean {
    return !this.broken && !this.socket.destroyed && this.pending.size < 65535
  }

  destroy(): void {
    this.socket.destroy()
  }

  getValues(names: string[]): Promise<Record<string, string>> {
    return new Promise((resolve, reject) => {
      this.valuesWaiter = resolve
      this.socket.once('close', () => reject(new Error('connection closed before FCGI_GET_VALUES_RESULT')))
      const out: Buffer[] = []
      pushRecord(out, Type.GetValues, 0, encodePairs(names.map((n) => [n, ''])))
      this.socket.write(Buffer.concat(out))
    })
  }

  send(req: ClientRequest, keepConn: boolean): Promise<StreamedResponse> {
    const id = this.allocateId()
    return new Promise<StreamedResponse>((resolve, reject) => {
      let endResolve!: (e: ResponseEnd) => void
      let endReject!: (err: Error) => void
      const end = new Promise<ResponseEnd>((res, rej) => {
        endResolve = res
        endReject = rej
      })
      end.catch(() => {}) // callers who only read the body must not see an unhandled rejection
      const p: Pending = {
        stdout: [],
        head: null,
        body: new BodyStream(),
        stderr: [],
        onHead: () => {
          const h = p.head!
          resolve({ status: h.status, headers: h.headers, rawHeaders: h.rawHeaders, body: p.body, end })
        },
        onEnd: endResolve,
        fail: (err) => {
          reject(err)
          endReject(err)
          p.body.fail(err)
        },
      }
      this.pending.set(id, p)
      this.writeRequest(id, req, keepConn).catch((err: Error) => p.fail(err))
      req.signal?.addEventListener('abort', () => {
        if (!this.pending.has(id)) return
        const out: Buffer[] = []
        pushRecord(out, Type.AbortRequest, id, Buffer.alloc(0))
        this.socket.write(Buffer.concat(out))
      }, { once: true })
    })
  }

  private allocateId(): number {
    while (this.pending.has(this.nextId)) this.nextId = (this.nextId % 65535) + 1
    const id = this.nextId
    this.nextId = (this.nextId % 65535) + 1
    return id
  }

  private async writeRequest(id: number, req: ClientRequest, keepConn: boolean): Promise<void> {
    const out: Buffer[] = []
    pushRecord(out, Type.BeginRequest, id, beginRequestBody(ROLE_CODES[req.role ?? 'responder'], keepConn))
    pushStream(out, Type.Params, id, encodePairs(Object.entries(buildParams(req))))
    pushRecord(out, Type.Params, id, Buffer.alloc(0))
    this.socket.write(Buffer.concat(out))
    await this.writeStream(id, Type.Stdin, req.body)
    if (req.role === 'filter') await this.writeStream(id, Type.Data, req.data)
  }

  private async writeStream(id: number, type: Type, body: ClientRequest['body']): Promise<void> {
    const write = async (chunk: Uint8Array) => {
      const out: Buffer[] = []
      pushStream(out, type, id, chunk)
      let ok = true
      for (const b of out) ok = this.socket.write(b)
      if (!ok && !this.socket.destroyed) await new Promise((r) => this.socket.once('drain', r))
    }
    if (typeof body === 'string') await write(Buffer.from(body))
    else if (body instanceof Uint8Array) await write(body)
    else if (body) {
      for await (const chunk of body) {
        if (this.socket.destroyed || !this.pending.has(id)) return
        if (chunk.length) await write(chunk)
      }
    }
    if (this.socket.destroyed || !this.pending.has(id)) return
    const out: Buffer[] = []
    pushRecord(out, type, id, Buffer.alloc(0))
    this.socket.write(Buffer.concat(out))
  }

  private onData(chunk: Buffer): void {
    try {
      this.parser.feed(chunk, (rec) => this.onRecord(rec.type, rec.id, rec.content))
    } catch (err) {
      this.failAll(err instanceof ProtocolError ? err : new Error(String(err)))
      this.socket.destroy()
    }
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    if (type === Type.GetValuesResult) {
      const values = decodePairs(content)
      this.valuesWaiter?.(values === 'limit' ? {} : values)
      this.valuesWaiter = null
      return
    }
    const p = this.pending.get(id)
    if (!p) return
    if (type === Type.Stdout && content.length) this.onStdout(p, Buffer.from(content))
    else if (type === Type.Stderr) p.stderr.push(Buffer.from(content))
    else if (type === Type.EndRequest) {
      this.pending.delete(id)
      if (!p.head) {
        const raw = Buffer.concat(p.stdout)
        // no complete head: status 0, whatever came is the body
        p.head = { status: 0, headers: {}, rawHeaders: [] }
        if (raw.length) p.body.push(raw)
        p.onHead()
      }
      p.body.end()
      p.onEnd({ appStatus: content.readUInt32BE(0), protocolStatus: content[4], stderr: Buffer.concat(p.stderr).toString() })
      this.onFree(this)
    }
  }

  private onStdout(p: Pending, chunk: Buffer): void {
    if (p.head) {
      if (!p.body.push(chunk)) {
        this.socket.pause()
        p.body.onDrain = () => this.socket.resume()
      }
      return
    }
    p.stdout.push(chunk)
    const all = Buffer.concat(p.stdout)
    const split = findHeadEnd(all)
    if (!split) {
      p.stdout = [all]
      return
    }
    p.stdout = []
    p.head = parseHead(all.subarray(0, split.head).toString('latin1'))
    const rest = all.subarray(split.body)
    if (rest.length) p.body.push(rest)
    p.onHead()
  }

  private failAll(err: Error): void {
    if (!this.broken) this.broken = err
    for (const p of this.pending.values()) p.fail(err)
    this.pending.clear()
  }
}

/** Lenient on purpose (a test tool shows what a server sent): lines that are not headers are
 * skipped, no Status means 200. */
function parseHead(text: string): NonNullable<Pending['head']> {
  let status = 200
  const headers: Record<string, string> = {}
  const rawHeaders: [string, string][] = []
  for (const [name, value] of splitHeaderLines(text).fields) {
    if (name.toLowerCase() === 'status') {
      status = Number.parseInt(value, 10) || 200
      continue
    }
    rawHeaders.push([name, value])
    const key = name.toLowerCase()
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value
  }
  return { status, headers, rawHeaders }
}

/** The CGI params a front end would send for this request. */
export function buildParams(req: ClientRequest): Record<string, string> {
  const path = req.path ?? '/'
  const q = path.indexOf('?')
  const scriptName = q >= 0 ? path.slice(0, q) : path
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'fcgi-client',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '0',
    REQUEST_METHOD: (req.method ?? (req.body !== undefined ? 'POST' : 'GET')).toUpperCase(),
    REQUEST_URI: path,
    SCRIPT_NAME: scriptName,
    DOCUMENT_URI: scriptName,
    QUERY_STRING: q >= 0 ? path.slice(q + 1) : '',
  }
  if (typeof req.body === 'string') params.CONTENT_LENGTH = String(Buffer.byteLength(req.body))
  else if (req.body instanceof Uint8Array) params.CONTENT_LENGTH = String(req.body.length)
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    const key = name.toUpperCase().replaceAll('-', '_')
    if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') params[key] = value
    else params[`HTTP_${key}`] = value
  }
  return { ...params, ...req.params }
}
