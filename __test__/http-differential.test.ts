// Differential property test for serveHttp: the same random raw HTTP/1.1 byte streams go over TCP
// to a js (node:http) and a native (fcgi-http + Tokio) server running the same handler; per
// connection both must give the same responses (status, reason, body, framing headers, the
// handler's header) and the same closing behaviour. Valid streams: 1-4 pipelined requests with
// random targets, headers and bodies (Content-Length or chunked, extensions, trailers), cut into
// several writes. Corrupted streams: one valid stream with one request damaged in one way.
// Responses are parsed here from the raw bytes (Date and Keep-Alive are not compared).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeSync } from 'node:fs'
import net from 'node:net'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import type { Handler } from 'fcgi'
import { describeWithNative } from './helpers/engines.ts'
import { startHttp, type TestHttpServer } from './helpers/server.ts'

const CONNECTION_TIMEOUT = 3000
/** 150 runs per property; runs and shrinking stop after 15 s (the smallest case so far is shown). */
const RUN_OPTIONS = { numRuns: 150, interruptAfterTimeLimit: 15_000 }
/** After the expected responses of a kept-alive connection: how long to watch for more or a close. */
const GRACE = 40
const MAX_HEAD = 8 * 1024

/**
 * Where the engines knowingly answer differently (docs/protocol-behaviour.md, "HTTP: where the
 * engines differ"): the native engine follows RFC 9112, the js engine is node:http. The generators
 * do not produce these shapes (the comparison stays strict for everything else); HTTP_DIFF_ALL=1
 * generates them too, and then the test fails on them within a few runs. The half-close this list
 * once held is fixed: both engines now answer what a client sent before its FIN.
 */
const KNOWN_DIVERGENCES = {
  /** Bytes pipelined after a `Connection: close` (or HTTP/1.0) request: js answers only
   * `400 Bad Request` (llhttp: "Data after `Connection: close`", answered from 'clientError'
   * before the first response), native answers the first request and closes. */
  dataAfterClose: 'requests pipelined after a closing request',
  /** A malformed request pipelined behind valid ones: js answers `400` at once from
   * 'clientError' and ends the socket, so the earlier requests' responses never go out; native
   * answers them in order, then 400. */
  errorDropsEarlierResponses: 'a damaged request behind valid ones',
  /** Chunk extensions with whitespace (RFC 9112 §7.1.1 BWS): `5; a` and `5;a = b` are refused
   * by js (400), accepted by native; ` ;a` before the `;` is refused by both. */
  chunkExtensionWhitespace: 'chunk extensions with BWS',
  /** An HTTP/1.0 `Connection: keep-alive` request whose response has no body and no
   * Content-Length (HEAD, 204, 304): js answers `Connection: close` and closes (node:http cannot
   * frame it for 1.0), native answers `Connection: keep-alive` and keeps the connection. */
  http10BodilessKeepAlive: 'HEAD, 204 and 304 on HTTP/1.0 keep-alive',
  /** Extra spaces around the request-target (`GET  / HTTP/1.1`, `GET /a  HTTP/1.1`): js accepts
   * them (llhttp skips repeated SP), native answers 400. A space inside the target: 400 on both. */
  repeatedSpaceInRequestLine: 'a space next to the separating ones',
}
const AVOID_KNOWN = process.env.HTTP_DIFF_ALL !== '1'

// ---- the handler: echoes what it was asked, so that the body shows how each engine parsed ----

const handler: Handler = async (req, res) => {
  const h = createHash('sha256')
  let n = 0
  for await (const c of req.stdin) {
    h.update(c)
    n += c.length
  }
  const p = req.params
  const fields = Object.keys(p).filter((k) => k.startsWith('HTTP_') || k === 'CONTENT_TYPE' || k === 'CONTENT_LENGTH')
  const st = /[?&]st=(\d{3})(?:&|$)/.exec(req.url)
  res.status = st ? Number(st[1]) : 200
  res.setHeader('X-Echo', `${fields.length};${p.HTTP_X_ECHO ?? '-'}`)
  const body =
    `${req.method} ${req.url} ${p.SERVER_PROTOCOL}\n` +
    `body=${n}:${h.digest('hex').slice(0, 16)}\n` +
    `fields=${fields.length} host=${p.HTTP_HOST ?? '-'} cl=${p.CONTENT_LENGTH ?? '-'} ct=${p.CONTENT_TYPE ?? '-'} te=${p.HTTP_TRANSFER_ENCODING ?? '-'}\n` +
    `path=${JSON.stringify(p.PATH_INFO)} query=${JSON.stringify(p.QUERY_STRING)}\n`
  if (/[?&]stream=1(?:&|$)/.test(req.url)) {
    res.write(body)
    res.end('streamed\n')
  } else {
    res.end(body)
  }
}

// ---- generators ----

const TCHAR = [..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]
const VCHAR = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i))
const HEX = [...'0123456789abcdefABCDEF']
const PCHAR = [..."abcxyzABCXYZ0129-._~!$&'()*+,;=:@"]
const QCHAR = [...PCHAR, '/', '?']
/** Header names the generator leaves to the request's own framing/connection fields. */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'http2-settings'])

const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 12 })
const fieldName = token.filter((n) => !RESERVED.has(n.toLowerCase()))
const word = fc.string({ unit: fc.constantFrom(...VCHAR), minLength: 1, maxLength: 10 })
const fieldValue = fc
  .tuple(fc.constantFrom('', ' ', '\t', '  '), fc.array(word, { maxLength: 3 }), fc.constantFrom(' ', '\t', '  '), fc.constantFrom('', ' ', '\t'))
  .map(([lead, words, sep, trail]) => lead + words.join(sep) + trail)
const pct = fc.tuple(fc.constantFrom(...HEX), fc.constantFrom(...HEX)).map(([a, b]) => `%${a}${b}`)
const segment = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PCHAR) }, { weight: 1, arbitrary: pct }), { maxLength: 8 }).map((a) => a.join(''))
const query = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...QCHAR) }, { weight: 1, arbitrary: pct }), { maxLength: 12 }).map((a) => a.join(''))
const target = fc
  .record({
    segments: fc.array(segment, { minLength: 1, maxLength: 4 }),
    query: fc.option(query, { nil: undefined }),
    st: fc.constantFrom(0, 0, 0, 0, 0, 201, 204, 304, 404),
    stream: fc.boolean(),
  })
  .map(({ segments, query, st, stream }) => {
    const q = [...(st ? [`st=${st}`] : []), ...(stream ? ['stream=1'] : []), ...(query !== undefined ? [query] : [])]
    return `/${segments.join('/')}${q.length ? `?${q.join('&')}` : ''}`
  })
const cased = (s: string) => fc.constantFrom(s, s.toLowerCase(), s.toUpperCase())
/** chunk extensions, all valid (RFC 9112 §7.1.1: BWS is allowed around ";" and "=") */
const EXTS = ['', '', '', ';a', ';name=value', ';q="x y"', ';a;b=1', ' ;bws', '; bws', ';a = b'].filter(
  (e) => !AVOID_KNOWN || !/[ \t]/.test(e.replace(/"[^"]*"/g, '')), // KNOWN_DIVERGENCES.chunkExtensionWhitespace
)

interface ReqSpec {
  method: string
  target: string
  http10: boolean
  host: string | null
  fields: [string, string][]
  echo: string | null
  contentType: string | null
  conn: string | null
  framing: 'none' | 'cl' | 'chunked'
  body: Uint8Array
  chunkCuts: number[]
  chunkStyles: number[]
  lastExt: number
  trailers: [string, string][]
  /** where the fixed fields (Host, Connection, framing, X-Echo, Content-Type) go among the others */
  positions: number[]
}

const reqArb: fc.Arbitrary<ReqSpec> = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'DELETE'),
    target,
    http10: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    hostName: fc.constantFrom('x', 'example.com', 'localhost:8080', '127.0.0.1', '[::1]:80'),
    host10: fc.boolean(),
    hostCase: cased('Host'),
    fields: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 20 }),
    echo: fc.option(word, { nil: null }),
    contentType: fc.option(fc.constantFrom('text/plain', 'application/json; charset=utf-8', 'a/b'), { nil: null }),
    conn: fc.constantFrom(null, null, 'close', 'keep-alive', 'Close', 'Keep-Alive'),
    connCase: cased('Connection'),
    framing: fc.constantFrom('none', 'cl', 'cl', 'chunked', 'chunked') as fc.Arbitrary<ReqSpec['framing']>,
    body: fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ maxLength: 300 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 5000 }) }),
    chunkCuts: fc.array(fc.nat(), { maxLength: 5 }),
    chunkStyles: fc.array(fc.nat(63), { minLength: 1, maxLength: 6 }),
    lastExt: fc.nat(63),
    trailers: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 2 }),
    positions: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
  })
  .map((r) => {
    // KNOWN_DIVERGENCES.http10BodilessKeepAlive
    if (AVOID_KNOWN && r.http10 && /keep-alive/i.test(r.conn ?? '')) {
      r.method = r.method === 'HEAD' ? 'GET' : r.method
      r.target = r.target.replace(/st=(204|304)/, 'st=201')
    }
    // HTTP/1.0 has no chunked framing (RFC 9112 §6.1); a body needs a framing
    let framing = r.framing
    if (r.http10 && framing === 'chunked') framing = 'cl'
    const body = framing === 'none' ? new Uint8Array(0) : r.body
    return {
      method: r.method,
      target: r.target,
      http10: r.http10,
      host: r.http10 && !r.host10 ? null : `${r.hostCase}: ${r.hostName}`,
      fields: r.fields,
      echo: r.echo,
      contentType: r.contentType,
      conn: r.conn === null ? null : `${r.connCase}: ${r.conn}`,
      framing,
      body,
      chunkCuts: r.chunkCuts,
      chunkStyles: r.chunkStyles,
      lastExt: r.lastExt,
      trailers: r.trailers,
      positions: r.positions,
    }
  })

// ---- requests as editable wire parts ----

interface Chunk {
  size: string
  ext: string
  data: Buffer
}
interface Wire {
  method: string
  target: string
  version: string
  lines: string[]
  /** Content-Length-framed (or absent) body */
  body: Buffer
  /** chunked body: the chunks, then the last chunk's size and extension, then trailer lines */
  chunks: Chunk[] | null
  last: { size: string; ext: string }
  trailers: string[]
  /** which head line ends in a bare LF instead of CRLF (0: the request line, k: header line k,
   * lines.length + 1: the empty line); none when undefined */
  bareLf?: number
}

function chunkSize(n: number, style: number): string {
  const hex = n.toString(16)
  return '0'.repeat((style >> 1) % 3) + (style & 1 ? hex.toUpperCase() : hex)
}

function toWire(r: ReqSpec): Wire {
  const body = Buffer.from(r.body)
  const lines = r.fields.map(([n, v]) => `${n}:${v}`)
  const fixed: string[] = []
  if (r.host) fixed.push(r.host)
  if (r.conn) fixed.push(r.conn)
  if (r.framing === 'cl') fixed.push(`Content-Length: ${body.length}`)
  if (r.framing === 'chunked') fixed.push('Transfer-Encoding: chunked')
  if (r.echo !== null) fixed.push(`X-Echo: ${r.echo}`)
  if (r.contentType !== null) fixed.push(`Content-Type: ${r.contentType}`)
  fixed.forEach((l, i) => lines.splice(r.positions[i] % (lines.length + 1), 0, l))
  let chunks: Chunk[] | null = null
  if (r.framing === 'chunked') {
    const cuts = [...new Set(r.chunkCuts.map((c) => c % (body.length + 1)))].filter((c) => c > 0 && c < body.length).sort((a, b) => a - b)
    chunks = []
    let prev = 0
    for (const c of [...cuts, body.length]) {
      if (c > prev) {
        const style = r.chunkStyles[chunks.length % r.chunkStyles.length]
        chunks.push({ size: chunkSize(c - prev, style), ext: EXTS[(style >> 3) % EXTS.length], data: body.subarray(prev, c) })
      }
      prev = c
    }
  }
  return {
    method: r.method,
    target: r.target,
    version: r.http10 ? 'HTTP/1.0' : 'HTTP/1.1',
    lines,
    body: r.framing === 'cl' ? body : Buffer.alloc(0),
    chunks,
    last: { size: chunkSize(0, r.lastExt), ext: EXTS[(r.lastExt >> 3) % EXTS.length] },
    trailers: chunks ? r.trailers.map(([n, v]) => `${n}:${v}`) : [],
  }
}

function encode(w: Wire): Buffer {
  const eol = (k: number) => (k === w.bareLf ? '\n' : '\r\n')
  const head = `${w.method} ${w.target} ${w.version}${eol(0)}${w.lines.map((l, k) => `${l}${eol(k + 1)}`).join('')}${eol(w.lines.length + 1)}`
  const parts: Buffer[] = [Buffer.from(head, 'latin1')]
  if (w.chunks) {
    for (const c of w.chunks) parts.push(Buffer.from(`${c.size}${c.ext}\r\n`, 'latin1'), c.data, Buffer.from('\r\n'))
    parts.push(Buffer.from(`${w.last.size}${w.last.ext}\r\n${w.trailers.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1'))
  } else {
    parts.push(w.body)
  }
  return Buffer.concat(parts)
}

/** Does the server end the connection after answering this (valid) request? */
function closes(r: ReqSpec): boolean {
  const c = r.conn?.toLowerCase() ?? ''
  return r.http10 ? !c.endsWith('keep-alive') : c.endsWith('close')
}

function cutInto(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c))
    prev = c
  }
  return out
}

// ---- corruptions ----

const BAD_METHOD_CHARS = ['(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}', '"', '\x7f', '\x01', '\x00', '\xe9']
const BAD_VERSIONS = ['HTTP/1.2', 'HTTP/3.1', 'HTTX/1.1', 'http/1.1', 'HTTP/1.10', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.', 'HTTP/11', 'HTTP/1.1x', 'HTTP/1.x', 'HTTP/ 1.1', 'HTTP/1.1 ', 'HTTP/1.1 extra']
const BAD_SIZES = ['zz', 'g', '-1', '+5', '0x5', '', '1 2', 'FFFFFFFFFFFFFFFFF', '5\x00', '\t5']
const KINDS = ['method', 'target-space', 'version', 'no-colon', 'obs-fold', 'cl-te', 'dup-cl', 'dup-host', 'bare-lf', 'chunk-size', 'ctl-value', 'oversize', 'truncate'] as const
type Kind = (typeof KINDS)[number]
interface Mutation {
  kind: Kind
  which: number
  at: number
  pick: number
  text: string
}
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom(...KINDS),
  which: fc.nat(),
  at: fc.nat(),
  pick: fc.nat(),
  text: word,
})

const isCl = (l: string) => /^content-length:/i.test(l)
const isTe = (l: string) => /^transfer-encoding:/i.test(l)

function toChunked(w: Wire): void {
  if (w.chunks) return
  w.lines = w.lines.filter((l) => !isCl(l))
  w.lines.push('Transfer-Encoding: chunked')
  w.chunks = w.body.length ? [{ size: w.body.length.toString(16), ext: '', data: w.body }] : []
  w.body = Buffer.alloc(0)
}

function toSized(w: Wire): void {
  if (!w.chunks) return
  w.body = Buffer.concat(w.chunks.map((c) => c.data))
  w.chunks = null
  w.trailers = []
  w.lines = w.lines.filter((l) => !isTe(l))
}

function insertLine(w: Wire, line: string, at: number): void {
  w.lines.splice(at % (w.lines.length + 1), 0, line)
}

/** Damage one request; returns the bytes, and the byte count to cut the stream at (truncate). */
function corrupt(wires: Wire[], m: Mutation): { bytes: Buffer; cut: number | null } {
  const i = m.which % wires.length
  const w = wires[i]
  let cut: number | null = null
  switch (m.kind) {
    case 'method': {
      const ch = BAD_METHOD_CHARS[m.pick % BAD_METHOD_CHARS.length]
      const at = m.at % (w.method.length + 1)
      w.method = w.method.slice(0, at) + ch + w.method.slice(at)
      break
    }
    case 'target-space': {
      if (AVOID_KNOWN) {
        // KNOWN_DIVERGENCES.repeatedSpaceInRequestLine: a space with target bytes on both sides
        const at = 1 + (m.at % w.target.length)
        w.target = `${w.target.slice(0, at)} x${w.target.slice(at)}`
        break
      }
      const at = m.at % (w.target.length + 1)
      w.target = `${w.target.slice(0, at)} ${w.target.slice(at)}`
      break
    }
    case 'version':
      w.version = BAD_VERSIONS[m.pick % BAD_VERSIONS.length]
      break
    case 'no-colon':
      insertLine(w, m.pick % 2 ? `X-${m.text.replace(/:/g, '')}` : `X-No-Colon ${m.text.replace(/:/g, '')}`, m.at)
      break
    case 'obs-fold':
      insertLine(w, `${m.pick % 2 ? ' ' : '\t'}${m.text}`, m.at)
      break
    case 'cl-te':
      if (w.chunks) insertLine(w, `Content-Length: ${encode(w).length % 50}`, m.at)
      else {
        const sized = w.lines.some(isCl)
        toChunked(w)
        insertLine(w, `Content-Length: ${sized ? w.chunks!.reduce((n, c) => n + c.data.length, 0) : m.pick % 50}`, m.at)
      }
      break
    case 'dup-cl': {
      toSized(w)
      let len = w.body.length
      if (!w.lines.some(isCl)) insertLine(w, `Content-Length: ${len}`, m.pick)
      len += 1 + (m.pick % 5)
      insertLine(w, `Content-Length: ${len}`, m.at)
      break
    }
    case 'dup-host': {
      const host = `Host: h${m.pick % 10}.example`
      if (!w.lines.some((l) => /^host:/i.test(l))) insertLine(w, host, m.pick)
      insertLine(w, host, m.at)
      break
    }
    case 'bare-lf':
      w.bareLf = m.at % (w.lines.length + 2)
      break
    case 'chunk-size': {
      toChunked(w)
      const bad = BAD_SIZES[m.pick % BAD_SIZES.length]
      const j = m.at % (w.chunks!.length + 1)
      if (j === w.chunks!.length) w.last.size = bad
      else w.chunks![j].size = bad
      break
    }
    case 'ctl-value': {
      const ch = m.pick % 2 ? '\r' : '\0'
      const withValue = w.lines.map((l, k) => [l, k] as const).filter(([l]) => l.includes(':'))
      const [line, k] = withValue[m.pick % withValue.length] ?? ['X-Ctl: ab', -1]
      const colon = line.indexOf(':') + 1
      const at = colon + 1 + (m.at % Math.max(1, line.length - colon))
      const damaged = line.slice(0, at) + ch + line.slice(at)
      if (k < 0) insertLine(w, damaged, m.at)
      else w.lines[k] = damaged
      break
    }
    case 'oversize':
      insertLine(w, `X-Big: ${'a'.repeat(MAX_HEAD + 2048 + (m.pick % 12000))}`, m.at)
      break
    case 'truncate': {
      const before = wires.slice(0, i).reduce((n, x) => n + encode(x).length, 0)
      cut = before + (m.at % encode(w).length)
      break
    }
  }
  return { bytes: Buffer.concat(wires.map(encode)), cut }
}

// ---- responses, parsed from the raw bytes ----

interface Resp {
  status: number
  reason: string
  headers: Record<string, string>
  body: string
}
interface Outcome {
  responses: Resp[]
  /** bytes that do not parse as a complete response: junk after a HEAD answer, or a cut response */
  rest: string
  closed: boolean
}

const COMPARED = ['content-type', 'content-length', 'transfer-encoding', 'connection', 'x-echo']

/** Responses in `buf`, answering requests with these methods in order; `rest` holds what is left. */
function parseResponses(buf: Buffer, methods: string[], closed: boolean): { responses: Resp[]; rest: Buffer } {
  const responses: Resp[] = []
  let off = 0
  const restFrom = (o: number) => ({ responses, rest: buf.subarray(o) })
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off, 'latin1')
    if (!/^HTTP\/1\.[01] /.test(buf.subarray(off, off + 9).toString('latin1')) || end < 0) return restFrom(off)
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0])
    if (!m) return restFrom(off)
    const status = Number(m[1])
    const all: Record<string, string[]> = {}
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':')
      const name = (c < 0 ? l : l.slice(0, c)).toLowerCase()
      ;(all[name] ??= []).push(c < 0 ? '<no colon>' : l.slice(c + 1).trim())
    }
    const headers: Record<string, string> = {}
    for (const n of COMPARED) if (all[n]) headers[n] = all[n].join(' | ')
    let at = end + 4
    let body: Buffer
    const method = methods[responses.length] ?? 'GET'
    if (status < 200 || status === 204 || status === 304 || method === 'HEAD') {
      body = Buffer.alloc(0)
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = []
      for (;;) {
        const le = buf.indexOf('\r\n', at, 'latin1')
        if (le < 0) return restFrom(off)
        const size = parseInt(buf.subarray(at, le).toString('latin1').split(';')[0], 16)
        if (Number.isNaN(size)) return restFrom(off)
        at = le + 2
        if (size === 0) {
          // trailers up to an empty line
          const te = buf.indexOf('\r\n', at, 'latin1') === at ? at : buf.indexOf('\r\n\r\n', at, 'latin1')
          if (te < 0) return restFrom(off)
          at = te + (te === at ? 2 : 4)
          break
        }
        if (buf.length < at + size + 2) return restFrom(off)
        parts.push(buf.subarray(at, at + size))
        at += size + 2
      }
      body = Buffer.concat(parts)
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length'])
      if (!Number.isSafeInteger(len) || buf.length < at + len) return restFrom(off)
      body = buf.subarray(at, at + len)
      at += len
    } else {
      if (!closed) return restFrom(off) // delimited by the close
      body = buf.subarray(at)
      at = buf.length
    }
    if (status >= 100 && status < 200) {
      off = at // interim: not an answer
      continue
    }
    responses.push({ status, reason: m[2] ?? '', headers, body: body.toString('latin1') })
    off = at
  }
  return restFrom(off)
}

/**
 * Write on the socket's descriptor, not through `socket.write`: once the server has closed (a
 * pipelined request after a closing one), a write fails with EPIPE/ECONNRESET, and net.Socket
 * then destroys itself at once, losing the response bytes the kernel still holds for it (a
 * server that closes with unread input sends RST, but Linux keeps what was received readable).
 * Returns false once a write failed: the connection is gone for writing.
 */
function writeRaw(socket: net.Socket, bytes: Buffer): boolean {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd
  if (fd === undefined || fd < 0 || socket.writableLength > 0) {
    socket.write(bytes)
    return true
  }
  let off = 0
  try {
    while (off < bytes.length) off += writeSync(fd, bytes, off)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return false
    socket.write(bytes.subarray(off)) // the send buffer is full: let net.Socket queue the rest
  }
  return true
}

/**
 * One connection: write the pieces (a pause between them so that they arrive as separate reads),
 * optionally half-close, then wait for the server to close, or for `expect` responses and a quiet
 * `GRACE` (unless a close is expected), or `CONNECTION_TIMEOUT`.
 */
async function play(port: number, pieces: Buffer[], methods: string[], o: { expect: number; expectClose: boolean; halfClose: boolean }): Promise<Outcome> {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  socket.on('error', () => {})
  const got: Buffer[] = []
  let closed = false
  let wake = () => {}
  socket.on('data', (d: Buffer) => {
    got.push(d)
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  const deadline = Date.now() + CONNECTION_TIMEOUT
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms)
      wake = () => {
        clearTimeout(t)
        r()
      }
    })
  await new Promise<void>((r) => {
    socket.once('connect', r)
    socket.once('close', r)
  })
  let writable = true
  for (const [i, p] of pieces.entries()) {
    if (closed || !writable) break
    writable = writeRaw(socket, p)
    if (i < pieces.length - 1) await new Promise((r) => setTimeout(r, 1))
  }
  if (o.halfClose && writable && !closed) socket.end()
  let quietSince = 0
  while (!closed && Date.now() < deadline) {
    const n = parseResponses(Buffer.concat(got), methods, false).responses.length
    if (n >= o.expect && !o.expectClose) {
      const len = got.length
      if (quietSince && Date.now() - quietSince >= GRACE) break
      quietSince ||= Date.now()
      await sleep(GRACE)
      if (got.length !== len) quietSince = 0
      continue
    }
    await sleep(Math.max(1, deadline - Date.now()))
  }
  socket.destroy()
  const { responses, rest } = parseResponses(Buffer.concat(got), methods, closed)
  return { responses, rest: rest.toString('latin1'), closed }
}

const show = (b: Buffer) => JSON.stringify(b.toString('latin1'))
const differ = (what: string, input: Buffer, js: Outcome, native: Outcome) =>
  `native and js differ (${what}) for ${show(input)}\n    js:     ${JSON.stringify(js)}\n    native: ${JSON.stringify(native)}`

describeWithNative('HTTP differential: native and js serveHttp answer alike', () => {
  let js: TestHttpServer
  let native: TestHttpServer
  before(async () => {
    const limits = { maxParamsBytes: MAX_HEAD, maxBodyBytes: 1024 * 1024 }
    js = await startHttp('js', handler, limits)
    native = await startHttp('native', handler, limits)
  })
  after(async () => {
    await js?.close()
    await native?.close()
  })
  if (AVOID_KNOWN) test('known divergences are not generated (HTTP_DIFF_ALL=1 generates them)', { todo: Object.values(KNOWN_DIVERGENCES).join('; ') }, () => {})

  const pipeline = fc.array(reqArb, { minLength: 1, maxLength: 4 })
  const cuts = fc.array(fc.nat(), { maxLength: 6 })

  test('valid pipelined requests, cut into several writes', async () => {
    await fc.assert(
      fc.asyncProperty(pipeline, cuts, async (all, writeCuts) => {
        // KNOWN_DIVERGENCES.dataAfterClose
        const reqs = AVOID_KNOWN && all.some(closes) ? all.slice(0, all.findIndex(closes) + 1) : all
        const wires = reqs.map(toWire)
        const bytes = Buffer.concat(wires.map(encode))
        const closing = reqs.findIndex(closes)
        const expect = closing < 0 ? reqs.length : closing + 1
        const methods = wires.map((w) => w.method)
        const pieces = cutInto(bytes, writeCuts)
        const o = { expect, expectClose: closing >= 0, halfClose: false }
        const [a, b] = await Promise.all([play(js.port, pieces, methods, o), play(native.port, pieces, methods, o)])
        assert.deepEqual(b, a, differ('valid', bytes, a, b))
      }),
      RUN_OPTIONS,
    )
  })

  test('corrupted requests: one mutation in a valid pipeline', async () => {
    await fc.assert(
      fc.asyncProperty(pipeline, cuts, mutationArb, async (all, writeCuts, mutation) => {
        // KNOWN_DIVERGENCES.errorDropsEarlierResponses: damage the first request
        const reqs = AVOID_KNOWN ? all.slice(mutation.which % all.length) : all
        const m = AVOID_KNOWN ? { ...mutation, which: 0 } : mutation
        const wires = reqs.map(toWire)
        const { bytes, cut } = corrupt(wires, m)
        const sent = cut === null ? bytes : bytes.subarray(0, cut)
        const methods = wires.map((w) => w.method)
        const o = { expect: reqs.length, expectClose: false, halfClose: cut !== null }
        const pieces = cutInto(sent, writeCuts)
        const [a, b] = await Promise.all([play(js.port, pieces, methods, o), play(native.port, pieces, methods, o)])
        assert.deepEqual(b, a, differ(m.kind, sent, a, b))
      }),
      RUN_OPTIONS,
    )
  })
})
