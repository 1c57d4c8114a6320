// Soak: mixed load on each engine over FastCGI and HTTP for a bounded time, watching the server
// process's memory and descriptors.
//
//   node --import tsx scripts/soak.ts [minutes in all, default 1, split over the runs] [--only js|native] [--only-protocol fcgi|http]
//
// Each (engine × protocol) run starts scripts/soak-server.ts as its own process and drives it with
// WORKERS concurrent clients: hello, 1 MiB uploads, 4 MiB downloads, uploads refused unread (an
// early answer), aborted requests, a throwing handler, bad input, and slow clients (a request
// trickled in). It reports requests served, errors, the server's RSS at start (after a warm-up),
// middle and end, and its open descriptors before and after (from /proc/<pid>/fd, once the
// connections have gone idle and closed). A run fails when RSS grows by more than RSS_GROWTH
// between start and middle AND again between middle and end (it keeps growing), when the
// descriptors after exceed those before by more than FD_SLACK, or when a valid request fails.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FcgiClient } from 'fcgi'
import { loadNativeEngine } from '../lib/engines/native/index.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const minutes = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 1)
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null
const onlyProtocol = args.includes('--only-protocol') ? args[args.indexOf('--only-protocol') + 1] : null
const WORKERS = 8
/** An upper bound on operations per run, whatever the time. */
const MAX_OPS = 2_000_000
const RSS_GROWTH = 1.25
/** An operation not done by then is a failure (a request never answered). */
const OP_TIMEOUT_MS = 30_000
const FD_SLACK = 2
const MiB = 1024 * 1024
const UPLOAD = Buffer.alloc(MiB, 'u')

interface Tally {
  ok: number
  failed: number
  expectedErrors: number
  failures: string[]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

async function startServer(engine: string, protocol: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/soak-server.ts'), engine, protocol], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('soak server did not start in 20 s')), 20_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      const m = /port (\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code) => reject(new Error(`soak server exited with ${code}`)))
  })
  return { child, port }
}

/** One HTTP exchange; resolves with the status (0 when the connection failed or was cut). */
function httpOnce(port: number, path: string, o: { body?: Buffer; abortAfterMs?: number } = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.body ? 'POST' : 'GET', agent: false, headers: o.body ? { 'Content-Length': String(o.body.length) } : {} }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', () => resolve(0))
    })
    req.on('error', () => resolve(0))
    req.setTimeout(20_000, () => req.destroy())
    if (o.abortAfterMs !== undefined) setTimeout(() => req.destroy(), o.abortAfterMs)
    req.end(o.body)
  })
}

/** Bytes on a raw socket, trickled in `pieces` (slow client) or at once; resolves when the server closes or after 5 s. */
async function raw(port: number, bytes: Buffer, pieces = 1, pauseMs = 0): Promise<string> {
  const s = net.connect(port, '127.0.0.1')
  let got = ''
  s.on('data', (d: Buffer) => (got += d.toString('latin1')))
  s.on('error', () => {})
  const closed = new Promise<void>((r) => s.once('close', () => r()))
  await new Promise<void>((r) => (s.once('connect', () => r()), s.once('close', () => r())))
  const step = Math.ceil(bytes.length / pieces)
  for (let off = 0; off < bytes.length && !s.destroyed; off += step) {
    s.write(bytes.subarray(off, off + step))
    if (pauseMs) await sleep(pauseMs)
  }
  await Promise.race([closed, sleep(5000)])
  s.destroy()
  return got
}

/** A FastCGI record header + content (bad input is built by hand). */
function record(type: number, id: number, content: Buffer, version = 1): Buffer {
  const h = Buffer.alloc(8)
  h[0] = version
  h[1] = type
  h.writeUInt16BE(id, 2)
  h.writeUInt16BE(content.length, 4)
  return Buffer.concat([h, content])
}

type Op = (t: Tally) => Promise<void>

/** Runs `op`; one that throws or hangs counts as failed (named by its index) and the worker
 * moves on. */
async function bounded(op: Op, index: number, t: Tally): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<string>((r) => (timer = setTimeout(() => r(`not done after ${OP_TIMEOUT_MS} ms`), OP_TIMEOUT_MS)))
  const result = await Promise.race([op(t).then(() => null, (err: Error) => err.message), hung])
  clearTimeout(timer)
  if (result !== null) {
    t.failed++
    if (t.failures.length < 10) t.failures.push(`operation ${index}: ${result}`)
  }
}

function operations(protocol: string, port: number, client: FcgiClient): Op[] {
  const expect = (t: Tally, what: string, ok: boolean) => {
    if (ok) t.ok++
    else {
      t.failed++
      if (t.failures.length < 10) t.failures.push(what)
    }
  }
  if (protocol === 'http') {
    return [
      async (t) => expect(t, 'hello', (await httpOnce(port, '/')) === 200),
      async (t) => expect(t, 'upload', (await httpOnce(port, '/upload', { body: UPLOAD })) === 200),
      async (t) => expect(t, 'download', (await httpOnce(port, '/download?n=4194304')) === 200),
      async (t) => expect(t, 'refused upload', [413, 0].includes(await httpOnce(port, '/refuse', { body: UPLOAD }))),
      async (t) => {
        await httpOnce(port, '/slow?ms=2000', { abortAfterMs: 20 })
        t.expectedErrors++
      },
      async (t) => expect(t, 'throw', (await httpOnce(port, '/throw')) === 500),
      async (t) => expect(t, 'bad input', /^HTTP\/1\.1 400 /.test(await raw(port, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')))),
      async (t) => expect(t, 'slow client', /^HTTP\/1\.1 200 /.test(await raw(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 8, 25))),
    ]
  }
  const get = async (path: string, body?: Buffer) => (await client.request({ path, method: body ? 'POST' : 'GET', body })).status
  // no FCGI_KEEP_CONN: the server closes after the answer, which ends the slow client's wait
  const beginOnce = record(1, 1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]))
  const params = record(4, 1, Buffer.from([11, 1, ...Buffer.from('REQUEST_URIx')]))
  const hello = Buffer.concat([beginOnce, params, record(4, 1, Buffer.alloc(0)), record(5, 1, Buffer.alloc(0))])
  return [
    async (t) => expect(t, 'hello', (await get('/')) === 200),
    async (t) => expect(t, 'upload', (await get('/upload', UPLOAD)) === 200),
    async (t) => expect(t, 'download', (await get('/download?n=4194304')) === 200),
    async (t) => expect(t, 'refused upload', (await get('/refuse', UPLOAD)) === 413),
    async (t) => {
      // a front end that gives up: the connection closes mid-request
      const c = new FcgiClient({ type: 'tcp', host: '127.0.0.1', port })
      const pending = c.request({ path: '/slow?ms=2000' }).catch(() => null)
      await sleep(20)
      c.close()
      await pending
      t.expectedErrors++
    },
    async (t) => expect(t, 'throw', (await get('/throw')) === 500),
    async (t) => {
      await raw(port, record(1, 1, Buffer.alloc(8), 9)) // version 9: closed
      t.expectedErrors++
    },
    async (t) => expect(t, 'slow client', (await raw(port, hello, 12, 20)).length > 0),
  ]
}

async function soak(engine: string, protocol: string, ms: number): Promise<boolean> {
  const { child, port } = await startServer(engine, protocol)
  const pid = child.pid!
  const orphan = () => child.kill('SIGKILL') // the server never outlives this script
  process.once('exit', orphan)
  const client = new FcgiClient({ type: 'tcp', host: '127.0.0.1', port })
  const ops = operations(protocol, port, client)
  const tally: Tally = { ok: 0, failed: 0, expectedErrors: 0, failures: [] }
  const fdBefore = fds(pid)
  // warm-up: every operation a few times, so that start RSS is the steady state's
  for (let i = 0; i < 3; i++) for (const [k, op] of ops.entries()) await bounded(op, k, tally)
  const rss = { start: rssMiB(pid), middle: NaN, end: NaN }
  const started = Date.now()
  let done = 0
  let n = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      while (Date.now() - started < ms && n < MAX_OPS) {
        const k = (n++ * 7 + w) % ops.length
        await bounded(ops[k], k, tally)
        done++
        if (Number.isNaN(rss.middle) && Date.now() - started >= ms / 2) rss.middle = rssMiB(pid)
      }
    }),
  )
  rss.end = rssMiB(pid)
  client.close()
  // every connection idles out (the soak server's idleTimeout is 3 s)
  let fdAfter = fds(pid)
  for (let i = 0; i < 60 && fdAfter > fdBefore; i++) {
    await sleep(250)
    fdAfter = fds(pid)
  }
  child.kill('SIGTERM')
  const exited = await Promise.race([new Promise((r) => child.once('exit', () => r(true))), sleep(5000).then(() => false)])
  if (!exited) child.kill('SIGKILL')
  process.off('exit', orphan)
  const growing = rss.middle > rss.start * RSS_GROWTH && rss.end > rss.middle * RSS_GROWTH
  const leaked = fdAfter > fdBefore + FD_SLACK
  const ok = !growing && !leaked && tally.failed === 0
  const secs = (Date.now() - started) / 1000
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} ${engine}/${protocol}: ${done} operations in ${secs.toFixed(0)} s (${tally.ok} answered as expected, ${tally.expectedErrors} aborts/bad input, ${tally.failed} failed)` +
      `; RSS ${rss.start.toFixed(0)} / ${rss.middle.toFixed(0)} / ${rss.end.toFixed(0)} MiB (start/middle/end); fds ${fdBefore} before, ${fdAfter} after` +
      (growing ? '; RSS keeps growing' : '') +
      (leaked ? '; descriptors leaked' : '') +
      (tally.failures.length ? `; failures: ${tally.failures.join(', ')}` : ''),
  )
  return ok
}

const engines = ['js', 'native'].filter((e) => !only || e === only).filter((e) => e === 'js' || !(loadNativeEngine() instanceof Error))
const protocols = ['fcgi', 'http'].filter((p) => !onlyProtocol || p === onlyProtocol)
const runs = engines.flatMap((e) => protocols.map((p) => [e, p] as const))
let failed = 0
for (const [engine, protocol] of runs) if (!(await soak(engine, protocol, (minutes * 60_000) / runs.length))) failed++
process.exit(failed ? 1 : 0)
