// 100 MiB up and down, streamed with backpressure both ways: the memory the process retains grows
// far less than the body (measured after forced GCs, see helpers/memory.ts). Both engines.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import type { Handler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { mib, peakGrowth } from './helpers/memory.ts'
import { startFcgi, startHttp } from './helpers/server.ts'

const SIZE = 100 * 1024 * 1024
const CHUNK = Buffer.alloc(256 * 1024)
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 31) & 0xff
const BOUND = 48 * 1024 * 1024

async function* generate(total: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += CHUNK.length) yield CHUNK.subarray(0, Math.min(CHUNK.length, total - sent))
}

function expectedHash(total: number): string {
  const h = createHash('sha256')
  for (let sent = 0; sent < total; sent += CHUNK.length) h.update(CHUNK.subarray(0, Math.min(CHUNK.length, total - sent)))
  return h.digest('hex')
}

forEachEngine('streaming', (engine) => {
  test('a 100 MiB upload streams through with bounded memory', async () => {
    const t = await startFcgi(engine, async (req, res) => {
      const h = createHash('sha256')
      let n = 0
      for await (const chunk of req.stdin) {
        h.update(chunk)
        n += chunk.length
      }
      res.end(`${n} ${h.digest('hex')}`)
    })
    try {
      const expected = expectedHash(SIZE)
      const { value: res, rss, js } = await peakGrowth(() =>
        t.client.request({ method: 'POST', path: '/up', body: generate(SIZE), headers: { 'Content-Length': String(SIZE) } }),
      )
      assert.equal(res.body.toString(), `${SIZE} ${expected}`)
      assert.ok(rss < BOUND, `RSS grew ${mib(rss)} MiB for a 100 MiB upload`)
      assert.ok(js < BOUND, `V8 held ${mib(js)} MiB more during a 100 MiB upload`)
    } finally {
      await t.close()
    }
  })

  test('a 100 MiB download streams out with bounded memory', async () => {
    const t = await startFcgi(engine, async (_req, res) => {
      for await (const chunk of generate(SIZE)) {
        if (!res.write(chunk)) await res.drain()
      }
      res.end()
    })
    try {
      const expected = expectedHash(SIZE)
      const h = createHash('sha256')
      const { value: res, rss, js } = await peakGrowth(async () => {
        const res = await t.client.stream({ path: '/down' })
        for await (const chunk of res.body) h.update(chunk)
        return res
      })
      assert.equal(h.digest('hex'), expected)
      assert.equal((await res.end).appStatus, 0)
      assert.ok(rss < BOUND, `RSS grew ${mib(rss)} MiB for a 100 MiB download`)
      assert.ok(js < BOUND, `V8 held ${mib(js)} MiB more during a 100 MiB download`)
    } finally {
      await t.close()
    }
  })
})

// Large bodies (the native engine holds them by reference instead of copying them) taken from
// views at odd offsets into one shared Buffer, mixed with small writes, many responses at once:
// every response must arrive byte-exact, whichever way each write went out.
const SHARED = Buffer.alloc(3 << 20)
for (let i = 0; i < SHARED.length; i++) SHARED[i] = (i * 131 + (i >> 9)) & 0xff
const PIECES: Array<[number, number]> = [
  [7, 100_000],
  [0, 3],
  [65_533, 65_537],
  [1 << 20, 1 << 20],
  [17, 40_000],
  [2_000_001, 200_000],
]
const expectedBody = (n: number): Buffer =>
  Buffer.concat([Buffer.from(`#${n}:`), ...PIECES.map(([at, len]) => SHARED.subarray(at + n, at + n + len))])

const viewsHandler: Handler = async (req, res) => {
  const n = Number(new URL(req.url, 'http://x').searchParams.get('n'))
  res.setHeader('Content-Type', 'application/octet-stream')
  res.write(`#${n}:`)
  for (const [at, len] of PIECES) if (!res.write(SHARED.subarray(at + n, at + n + len))) await res.drain()
  res.end()
}

forEachEngine('large bodies from shared views', (engine) => {
  test('20 concurrent FastCGI responses of views into one Buffer arrive byte-exact', async () => {
    const t = await startFcgi(engine, viewsHandler)
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, n) => t.client.request({ path: `/v?n=${n}` })))
      results.forEach((r, n) => assert.ok(r.body.equals(expectedBody(n)), `response ${n} differs`))
    } finally {
      await t.close()
    }
  })
})

forEachEngine(
  'large bodies from shared views over HTTP',
  (engine) => {
    test('20 concurrent HTTP responses of views into one Buffer arrive byte-exact', async () => {
      const t = await startHttp(engine, viewsHandler)
      try {
        const bodies = await Promise.all(
          Array.from({ length: 20 }, async (_, n) => Buffer.from(await (await fetch(`http://127.0.0.1:${t.port}/v?n=${n}`)).arrayBuffer())),
        )
        bodies.forEach((b, n) => assert.ok(b.equals(expectedBody(n)), `response ${n} differs`))
      } finally {
        await t.close()
      }
    })
  },
)
