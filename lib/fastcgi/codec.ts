// FastCGI 1.0 wire format: record headers, stream records, name-value pairs. No I/O.
// Shared by the js engine (server side) and the client in lib/client.ts.

export const VERSION = 1
export const HEADER_LEN = 8
export const MAX_CONTENT = 65535

export const enum Type {
  BeginRequest = 1,
  AbortRequest = 2,
  EndRequest = 3,
  Params = 4,
  Stdin = 5,
  Stdout = 6,
  Stderr = 7,
  Data = 8,
  GetValues = 9,
  GetValuesResult = 10,
  UnknownType = 11,
}

export const enum RoleCode {
  Responder = 1,
  Authorizer = 2,
  Filter = 3,
}

export const enum ProtocolStatus {
  RequestComplete = 0,
  CantMpxConn = 1,
  Overloaded = 2,
  UnknownRole = 3,
}

export const FLAG_KEEP_CONN = 1

export interface RecordView {
  type: number
  id: number
  /** Content without padding; a view into the parser's buffer, valid until the next feed. */
  content: Buffer
}

export class ProtocolError extends Error {}

/** Incremental record parser: feed bytes as they arrive, get whole records back. */
export class RecordParser {
  private pending: Buffer | null = null

  /** Parse every complete record in `pending + chunk` and hand each to `onRecord`; keep the
   * tail for the next call. `onRecord` returns false to stop (the connection is going away). */
  feed(chunk: Buffer, onRecord: (rec: RecordView) => boolean | void): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = null
    let off = 0
    while (buf.length - off >= HEADER_LEN) {
      if (buf[off] !== VERSION) throw new ProtocolError(`unsupported FastCGI version ${buf[off]}`)
      const len = buf.readUInt16BE(off + 4)
      const total = HEADER_LEN + len + buf[off + 6]
      if (buf.length - off < total) break
      const rec = { type: buf[off + 1], id: buf.readUInt16BE(off + 2), content: buf.subarray(off + HEADER_LEN, off + HEADER_LEN + len) }
      off += total
      if (onRecord(rec) === false) return
    }
    if (off < buf.length) {
      // copy the tail so the caller's chunk can be released
      this.pending = Buffer.from(buf.subarray(off))
    }
  }

  /** True when a partial record is buffered (EOF now would truncate it). */
  get midRecord(): boolean {
    return this.pending !== null
  }
}

const PAD = Buffer.alloc(8)

function header(type: number, id: number, len: number, pad: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_LEN)
  h[0] = VERSION
  h[1] = type
  h.writeUInt16BE(id, 2)
  h.writeUInt16BE(len, 4)
  h[6] = pad
  h[7] = 0
  return h
}

/** One record, content ≤ 65535 bytes, padded to a multiple of 8. Pushes the parts onto `out`. */
export function pushRecord(out: Buffer[], type: number, id: number, content: Uint8Array): void {
  const pad = (8 - (content.length % 8)) % 8
  out.push(header(type, id, content.length, pad))
  if (content.length) out.push(content instanceof Buffer ? content : Buffer.from(content.buffer, content.byteOffset, content.length))
  if (pad) out.push(PAD.subarray(0, pad))
}

/** A stream's content split into ≤ 65535-byte records (no terminator). Empty content: nothing. */
export function pushStream(out: Buffer[], type: number, id: number, content: Uint8Array): void {
  for (let off = 0; off < content.length; off += MAX_CONTENT) {
    pushRecord(out, type, id, content.subarray(off, Math.min(off + MAX_CONTENT, content.length)))
  }
}

export function endRequestBody(appStatus: number, protocolStatus: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt32BE(appStatus >>> 0, 0)
  b[4] = protocolStatus
  return b
}

export function beginRequestBody(role: number, keepConn: boolean): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt16BE(role, 0)
  b[2] = keepConn ? FLAG_KEEP_CONN : 0
  return b
}

function lengthBytes(n: number): Buffer {
  if (n < 128) return Buffer.from([n])
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE((n | 0x80000000) >>> 0, 0)
  return b
}

/** Encode name-value pairs (1-byte lengths below 128, else 4-byte). */
export function encodePairs(pairs: Iterable<[string, string]>): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of pairs) {
    const n = Buffer.from(name)
    const v = Buffer.from(value)
    parts.push(lengthBytes(n.length), lengthBytes(v.length), n, v)
  }
  return Buffer.concat(parts)
}

/** Decode a complete name-value pair buffer. Throws ProtocolError when a length runs past the end,
 * `limit` when there are more than `maxPairs` pairs. */
export function decodePairs(buf: Buffer, maxPairs = Infinity): Record<string, string> | 'limit' {
  const out: Record<string, string> = {}
  let off = 0
  let count = 0
  const readLen = (): number => {
    if (off >= buf.length) throw new ProtocolError('truncated name-value pair')
    const b = buf[off]
    if (b < 128) {
      off += 1
      return b
    }
    if (off + 4 > buf.length) throw new ProtocolError('truncated name-value pair length')
    const n = buf.readUInt32BE(off) & 0x7fffffff
    off += 4
    return n
  }
  while (off < buf.length) {
    const nlen = readLen()
    const vlen = readLen()
    if (off + nlen + vlen > buf.length) throw new ProtocolError('name-value pair runs past the params')
    if (++count > maxPairs) return 'limit'
    const name = buf.toString('latin1', off, off + nlen)
    off += nlen
    const value = buf.toString('utf8', off, off + vlen)
    // a param named __proto__ must stay data, not replace the object's prototype
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
    else out[name] = value
    off += vlen
  }
  return out
}

/** Names seen at each position of the last params (HTTP and front ends send the same names in
 * the same order on every request), internalized: a name whose bytes match is reused instead of
 * sliced and looked up in V8's string table again. */
const NAME_CACHE: string[] = []

function internalize(name: string): string {
  // a property key is internalized; reading it back gives the internalized string
  return Object.keys({ [name]: 0 })[0] ?? name
}

/** A name-value pair length at `off` (one byte below 128, else four with the top bit). */
function lenAt(buf: Buffer, off: number): number {
  const b = buf[off]
  return b < 128 ? b : (b & 0x7f) * 0x1000000 + (buf[off + 1] << 16) + (buf[off + 2] << 8) + buf[off + 3]
}

const lenSize = (buf: Buffer, off: number): number => (buf[off] < 128 ? 1 : 4)

/** `decodePairs` for params already validated (no truncated pair, not over the limit) whose
 * bytes are all ASCII: one latin1 string for the whole buffer, names and values sliced from it,
 * without a native call per string (the native engine's fast path). */
export function decodeAsciiPairs(buf: Buffer): Record<string, string> {
  const s = buf.latin1Slice(0, buf.length)
  const out: Record<string, string> = {}
  const end = buf.length
  let off = 0
  for (let i = 0; off < end; i++) {
    const nlen = lenAt(buf, off)
    off += lenSize(buf, off)
    const vlen = lenAt(buf, off)
    off += lenSize(buf, off)
    let name = i < 64 ? NAME_CACHE[i] : undefined
    if (name === undefined || name.length !== nlen || !s.startsWith(name, off)) {
      name = s.slice(off, off + nlen)
      if (i < 64 && nlen <= 64) NAME_CACHE[i] = name = internalize(name)
    }
    off += nlen
    const value = s.slice(off, off + vlen)
    off += vlen
    // a param named __proto__ must stay data, not replace the object's prototype
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
    else out[name] = value
  }
  return out
}

/** The values of `a` and `b` in validated ASCII params (the last pair of each name, as
 * decodeAsciiPairs keeps), read in one walk over the lengths without decoding the others:
 * `req.method` and `req.url` of a request whose params nobody reads cost that walk. Empty
 * values count as absent (the API falls back). */
export function findAsciiParams(buf: Buffer, a: string, b: string): [a: string | undefined, b: string | undefined] {
  const end = buf.length
  let off = 0
  let aAt = -1
  let aLen = 0
  let bAt = -1
  let bLen = 0
  while (off < end) {
    const nlen = lenAt(buf, off)
    off += lenSize(buf, off)
    const vlen = lenAt(buf, off)
    off += lenSize(buf, off)
    if (nlen === a.length && nameIs(buf, off, a)) {
      aAt = off + nlen
      aLen = vlen
    } else if (nlen === b.length && nameIs(buf, off, b)) {
      bAt = off + nlen
      bLen = vlen
    }
    off += nlen + vlen
  }
  return [aLen === 0 ? undefined : buf.latin1Slice(aAt, aAt + aLen), bLen === 0 ? undefined : buf.latin1Slice(bAt, bAt + bLen)]
}

/** Whether the bytes at `off` spell `name` (ASCII). */
function nameIs(buf: Buffer, off: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (buf[off + i] !== name.charCodeAt(i)) return false
  return true
}

declare module 'node:buffer' {
  interface Buffer {
    latin1Slice(start: number, end: number): string
  }
}
