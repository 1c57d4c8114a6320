// Differential property test: random valid and corrupted FastCGI record streams go to a native and
// a js server running the same handler; both must give the same answers (per request id, byte for
// byte) and the same error behaviour (connection closed or not, management replies).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { Type, beginRequestBody, encodePairs } from '../lib/fastcgi/codec.ts'
import type { Handler } from 'fcgi'
import { describeWithNative } from './helpers/engines.ts'
import { RawConnection, rec, type Rec } from './helpers/raw.ts'
import { startFcgi, type TestServer } from './helpers/server.ts'

const handler: Handler = async (req, res) => {
  const h = createHash('sha256')
  let n = 0
  for await (const c of req.stdin) {
    h.update(c)
    n += c.length
  }
  let d = 0
  for await (const c of req.data) d += c.length
  const u = new URL(req.url, 'http://x')
  if (u.pathname === '/throw') throw new Error('differential throw')
  if (u.pathname === '/stderr') res.stderr(`err ${n}\n`)
  res.setHeader('X-Params', String(Object.keys(req.params).length))
  res.status = Number(u.searchParams.get('status') ?? 200)
  res.end(`${req.role} ${req.method} ${req.url} stdin=${n}:${h.digest('hex').slice(0, 16)} data=${d}`)
}

interface Req {
  id: number
  role: number
  pairs: [string, string][]
  stdin: Buffer[]
  data: Buffer[]
  paramCuts: number[]
  abort: boolean
}

const name = fc.stringMatching(/^[A-Z_]{1,12}$/)
const value = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 120, maxLength: 300 }))
const path = fc.constantFrom('/a', '/b?x=1', '/throw', '/stderr', '/c?status=404', '/d?status=201')

const reqArb = (id: number) =>
  fc.record({
    id: fc.constant(id),
    role: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(2, 3, 7) }),
    pairs: fc.tuple(path, fc.array(fc.tuple(name, value), { maxLength: 6 })).map(([p, extra]) => [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', p], ...extra.filter(([k]) => k !== 'REQUEST_URI')] as [string, string][]),
    stdin: fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((a) => Buffer.from(a)), { maxLength: 3 }),
    data: fc.array(fc.uint8Array({ minLength: 1, maxLength: 100 }).map((a) => Buffer.from(a)), { maxLength: 2 }),
    paramCuts: fc.array(fc.nat({ max: 400 }), { maxLength: 3 }),
    abort: fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 3, arbitrary: fc.constant(true) }),
  })

function encodeRequest(r: Req): Buffer[] {
  const out: Buffer[] = [rec(Type.BeginRequest, r.id, beginRequestBody(r.role, true))]
  const pairs = encodePairs(r.pairs)
  const cuts = [...new Set(r.paramCuts.map((c) => c % (pairs.length + 1)))].sort((a, b) => a - b)
  let prev = 0
  for (const c of [...cuts, pairs.length]) {
    if (c > prev) out.push(rec(Type.Params, r.id, pairs.subarray(prev, c)))
    prev = c
  }
  out.push(rec(Type.Params, r.id))
  for (const s of r.stdin) out.push(rec(Type.Stdin, r.id, s))
  if (r.abort) out.push(rec(Type.AbortRequest, r.id))
  out.push(rec(Type.Stdin, r.id))
  if (r.role === 3) {
    for (const d of r.data) out.push(rec(Type.Data, r.id, d))
    out.push(rec(Type.Data, r.id))
  }
  return out
}

/** Interleave the requests' records (keeping each request's order), add management records. */
const streamArb = fc
  .integer({ min: 1, max: 5 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => reqArb(i + 1))))
  .chain((reqs) =>
    fc.tuple(
      fc.constant(reqs),
      fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
      fc.array(fc.constantFrom('getvalues', 'unknown'), { maxLength: 2 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
    ),
  )

interface Outcome {
  perId: Record<number, string>
  management: string[]
  closed: boolean
}

function summarize(records: Rec[], closed: boolean): Outcome {
  const perId: Record<number, string> = {}
  const management: string[] = []
  for (const r of records) {
    if (r.id === 0) management.push(`${r.type}:${r.content.toString('hex')}`)
    else perId[r.id] = (perId[r.id] ?? '') + `[${r.type}]${r.content.toString('latin1')}`
  }
  return { perId, management, closed }
}

async function play(target: TestServer, chunks: Buffer[], expectEnds: number, corrupted: boolean): Promise<Outcome> {
  const c = new RawConnection(target.connectTo)
  for (const ch of chunks) c.write(ch)
  try {
    if (corrupted) await c.closesWithin(700)
    else await c.until((recs) => recs.filter((r) => r.type === Type.EndRequest).length >= expectEnds, 5000)
    await new Promise((r) => setTimeout(r, 30)) // anything after the last END_REQUEST would be a bug
  } catch {
    // a timeout shows up as a difference in the outcome
  }
  const out = summarize(c.records, c.closed)
  c.destroy()
  return out
}

function build(reqs: Req[], order: number[], mgmt: string[], splits: number[]): { chunks: Buffer[]; ends: number } {
  const queues = reqs.map(encodeRequest)
  const records: Buffer[] = []
  let k = 0
  while (queues.some((q) => q.length)) {
    const live = queues.filter((q) => q.length)
    records.push(live[order[k++ % order.length] % live.length].shift()!)
  }
  for (const m of mgmt) {
    const at = order[k++ % order.length] % (records.length + 1)
    records.splice(at, 0, m === 'getvalues' ? rec(Type.GetValues, 0, encodePairs([['FCGI_MPXS_CONNS', ''], ['FCGI_MAX_REQS', '']])) : rec(20 + (at % 200), 0, 'zz'))
  }
  const bytes = Buffer.concat(records)
  const chunks: Buffer[] = []
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const len = splits[i % splits.length] * 37
    chunks.push(bytes.subarray(off, off + len))
    off += len
  }
  return { chunks, ends: reqs.length }
}

describeWithNative('differential: native and js answer alike', () => {
  let js: TestServer
  let native: TestServer
  before(async () => {
    js = await startFcgi('js', handler)
    native = await startFcgi('native', handler)
  })
  after(async () => {
    await js?.close()
    await native?.close()
  })

  test('random valid record streams, split at random points', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, async ([reqs, order, mgmt, splits]) => {
        const { chunks, ends } = build(reqs, order, mgmt, splits)
        const [a, b] = await Promise.all([play(js, chunks, ends, false), play(native, chunks, ends, false)])
        assert.deepEqual(b, a)
      }),
      { numRuns: 60 },
    )
  })

  const corruption = fc.oneof(
    fc.record({ kind: fc.constant('version' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('type' as const), at: fc.nat(), type: fc.constantFrom(0, 3, 6, 7, 10, 11, 12, 99) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('garbage' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    fc.record({ kind: fc.constant('badpairs' as const), at: fc.nat() }),
  )

  test('corrupted record streams: same closing behaviour and management replies', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, corruption, async ([reqs, order, mgmt, splits], bad) => {
        const { chunks } = build(reqs, order, mgmt, splits)
        const bytes = Buffer.concat(chunks)
        // corrupt at a record boundary so the damage is a whole record's worth
        const bounds: number[] = []
        for (let off = 0; off < bytes.length; off += 8 + bytes.readUInt16BE(off + 4) + bytes[off + 6]) bounds.push(off)
        const at = bounds[bad.at % bounds.length]
        let damaged: Buffer
        if (bad.kind === 'version') {
          damaged = Buffer.from(bytes)
          damaged[at] = 2
        } else if (bad.kind === 'type') {
          damaged = Buffer.concat([bytes.subarray(0, at), rec(bad.type, bad.type === 0 || bad.type >= 12 ? 0 : 1, 'x'), bytes.subarray(at)])
        } else if (bad.kind === 'truncate') {
          damaged = bytes.subarray(0, at + 5)
        } else if (bad.kind === 'garbage') {
          damaged = Buffer.concat([bytes.subarray(0, at), Buffer.from(bad.bytes), bytes.subarray(at)])
        } else {
          damaged = Buffer.concat([bytes.subarray(0, at), rec(Type.BeginRequest, 60000, beginRequestBody(1, true)), rec(Type.Params, 60000, Buffer.from([9, 9, 65])), rec(Type.Params, 60000), bytes.subarray(at)])
        }
        const [a, b] = await Promise.all([play(js, [damaged], 0, true), play(native, [damaged], 0, true)])
        // requests dispatched before the damage race with the close; compare what does not race
        assert.equal(b.closed, a.closed, 'both close the connection, or neither')
        assert.deepEqual(b.management, a.management)
        const refused = (o: Outcome) => Object.entries(o.perId).filter(([, v]) => /^\[3\]/.test(v)).map(([k, v]) => `${k}${v}`)
        assert.deepEqual(refused(b), refused(a), 'UNKNOWN_ROLE / OVERLOADED answers')
      }),
      { numRuns: 40 },
    )
  })
})
