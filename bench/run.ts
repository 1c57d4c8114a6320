// `npm run bench` — the benchmark matrix (see README "Benchmarks").
//
//   npm run bench                  full matrix, ~15 minutes; writes bench/results/latest.{md,svg,json}
//   npm run bench -- --quick       ~1 minute smoke run (a few cells, short); writes bench/results/quick.*
//                                  and exits non-zero unless every row that ran produced numbers
//   npm run bench -- --only 'native|js'    only back ends whose name matches (plus nothing else)
//
// Every back end runs as its own process (bench/servers/*.mjs for the engines, plain node on the compiled package, bench/peers/ for the
// others), started, waited for, measured, stopped. Direct cells use the Rust load generator
// (crates/fcgi-bench); nginx cells use wrk -t1 → nginx (1 worker, fastcgi_keep_conn on) → back end.
// Figures are only compared within one run: every row shows its ratio to the native engine (or to
// js when native is unavailable) measured minutes apart on the same machine.
// Env: BENCH_REQUIRE_ALL=1 turns a skipped back end (tool not installed) into a failure;
// BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' passes flags to the engine back ends' node.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as B from './lib/backends.ts'
import type { Backend, Env, Running, Transport } from './lib/backends.ts'
import { cpuOf, foreignLoad, freePort, hwmKiB, resetPeak, rssKiB, runCommand, sleep } from './lib/proc.ts'
import { renderMarkdown, renderSvg, type IdleResult, type Meta, type Row, type UploadResult } from './lib/render.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const argv = process.argv.slice(2)
const QUICK = argv.includes('--quick')
const onlyIndex = argv.indexOf('--only')
const ONLY = onlyIndex === -1 ? null : new RegExp(argv[onlyIndex + 1]!, 'i')
const REQUIRE_ALL = process.env.BENCH_REQUIRE_ALL === '1'

// Seconds per cell: measured, and unmeasured warm-up before it.
const DURATION = QUICK ? 1 : 3
const WARMUP = QUICK ? 0.3 : 1
// A cell during which other processes used more than this many cores is measured again, at most
// RETRIES_PER_CELL times and RETRY_BUDGET times per run; the cleanest attempt is kept.
const MAX_OTHER_LOAD = 0.25
const RETRIES_PER_CELL = QUICK ? 0 : 2
let retriesLeft = QUICK ? 0 : 40
const IDLE_CONNS = QUICK ? 1000 : 10_000
const UPLOAD_BYTES = QUICK ? 64 << 20 : 1 << 30

export type Workload = 'hello' | 'post64k' | 'big1m' | 'params100'
const WORKLOADS: Record<Workload, { path: string; body: number; params: number; label: string }> = {
  hello: { path: '/hello', body: 0, params: 0, label: 'hello GET' },
  post64k: { path: '/echo', body: 65536, params: 0, label: '64 KiB POST echo' },
  big1m: { path: '/big', body: 0, params: 0, label: '1 MiB response' },
  params100: { path: '/params', body: 0, params: 100, label: '100-param request' },
}

interface Cell {
  workload: Workload
  conc: number
  transport: Transport
  /** mpx: 32 requests in flight per connection (conc/32 connections); conn/req: no FCGI_KEEP_CONN;
   * pipeline8: 8 HTTP requests in flight per connection. */
  variant?: 'mpx' | 'conn/req' | 'pipeline8'
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`)

function cellKey(c: Cell): string {
  return `${c.workload} c${c.conc} ${c.transport}${c.variant ? ` ${c.variant}` : ''}`
}

function cellsFor(section: Row['section'], backend: Backend, transport: Transport): Cell[] {
  const cell = (workload: Workload, conc: number, variant?: Cell['variant']): Cell => ({ workload, conc, transport, variant })
  if (QUICK) {
    return transport === 'unix' || section === 'http' ? [cell('hello', 32)] : []
  }
  if (backend === B.php1) {
    if (section === 'direct' && transport === 'unix') return [cell('hello', 1), cell('hello', 32), cell('hello', 256)]
    if (section === 'nginx' && transport === 'unix') return [cell('hello', 32)]
    return []
  }
  const all = [cell('hello', 1), cell('hello', 32), cell('hello', 256), cell('post64k', 32), cell('big1m', 32), cell('params100', 32)]
  if (section === 'direct') {
    if (transport === 'tcp') return all
    const extra = [cell('hello', 32, 'conn/req')]
    if (backend.keepConn) extra.unshift(cell('hello', 256, 'mpx'))
    return [...all, ...extra]
  }
  if (section === 'nginx') return transport === 'unix' ? all : [cell('hello', 32)]
  return [...all, cell('hello', 32, 'pipeline8')]
}

// ---------- environment ----------

async function probeNative(): Promise<{ fcgi: string | null; http: string | null }> {
  const { loadNativeEngine } = await import('../lib/engines/native/index.ts')
  const loaded = loadNativeEngine()
  if (loaded instanceof Error) return { fcgi: loaded.message, http: loaded.message }
  const { serveHttp } = await import('../lib/index.ts')
  try {
    const server = await serveHttp({ engine: 'native', listen: 0, handler: (_req, res) => res.end() })
    await server.close({ timeout: 100 })
    return { fcgi: null, http: null }
  } catch (err) {
    return { fcgi: null, http: err instanceof Error ? err.message : String(err) }
  }
}

function version(cmd: string | null, args: string[], pick: RegExp): string {
  if (!cmd) return 'not installed'
  const out = spawnSync(cmd, args, { encoding: 'utf8' })
  const text = `${out.stdout ?? ''}\n${out.stderr ?? ''}`
  return pick.exec(text)?.[1] ?? text.trim().split('\n')[0] ?? '?'
}

function buildGenerator(): string {
  const targetDir = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target')
  log('building crates/fcgi-bench (cargo build --release)')
  const build = spawnSync('cargo', ['build', '--release', '-p', 'fcgi-bench', '--quiet'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const bin = join(targetDir, 'release')
  if (build.status !== 0) {
    // The workspace can be mid-edit (another crate not compiling); an earlier build still measures.
    if (!existsSync(join(bin, 'fcgi-bench')) || !existsSync(join(bin, 'fcgi-ceiling'))) {
      throw new Error('cargo build --release -p fcgi-bench failed')
    }
    log('cargo build failed; using the fcgi-bench binaries built earlier')
  }
  return bin
}

// ---------- measuring ----------

interface GenResult {
  rps: number
  requests: number
  answered_all: number
  errors: number
  error_kinds: Record<string, number>
  unfinished: number
  latency_us: { p50: number | null; p99: number | null; p999: number | null; mean: number | null }
  gen_cpu_s: number
  seconds: number
}

async function generator(env: Env, args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
  const result = await runCommand(join(env.bin, 'fcgi-bench'), args, { timeoutMs })
  const line = result.stdout.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    throw new Error(`fcgi-bench ${args.join(' ')} failed (${result.code}): ${result.stderr.trim().slice(-500)}`)
  }
}

function loadArgs(cell: Cell, backend: Backend, target: string): string[] {
  const w = WORKLOADS[cell.workload]
  const args = [backend.protocol, '--target', target, '--duration', `${DURATION}`, '--warmup', `${WARMUP}`, '--path', w.path]
  if (w.body) args.push('--body', `${w.body}`)
  if (w.params) args.push('--params', `${w.params}`)
  if (backend.protocol === 'fcgi') {
    args.push('--param', `SCRIPT_FILENAME=${join(ROOT, 'bench/peers/php/bench.php')}`)
    if (cell.variant === 'mpx') args.push('--conns', `${Math.max(1, cell.conc / 32)}`, '--inflight', '32')
    else args.push('--conns', `${cell.conc}`)
    if (cell.variant === 'conn/req' || !backend.keepConn) args.push('--no-keep')
  } else {
    args.push('--conns', `${cell.conc}`)
    if (cell.variant === 'pipeline8') args.push('--pipeline', '8')
  }
  return args
}

function baseRow(section: Row['section'], cell: Cell, backend: Backend): Row {
  return {
    section,
    cell: cellKey(cell),
    workload: cell.workload,
    conc: cell.conc,
    transport: cell.transport,
    variant: cell.variant ?? null,
    backend: backend.name,
    status: 'ok',
    note: !backend.keepConn && section === 'direct' ? 'one request per connection' : undefined,
  }
}

async function directCell(env: Env, section: 'direct' | 'http', run: Running, backend: Backend, cell: Cell): Promise<Row> {
  const row = baseRow(section, cell, backend)
  const pids = run.pids()
  resetPeak(pids)
  const cpu0 = cpuOf(pids)
  const foreign = foreignLoad()
  const out = (await generator(env, loadArgs(cell, backend, run.address), (WARMUP + DURATION + 30) * 1000)) as unknown as GenResult
  const cpu = cpuOf(pids) - cpu0
  row.otherLoad = foreign()
  row.peakRssMiB = hwmKiB(run.pids()) / 1024
  row.rps = out.rps
  row.requests = out.requests
  row.p50 = out.latency_us.p50
  row.p99 = out.latency_us.p99
  row.p999 = out.latency_us.p999
  row.errors = out.errors + out.unfinished
  row.errorKinds = { ...out.error_kinds, ...(out.unfinished ? { unfinished: out.unfinished } : {}) }
  row.cpuPer100k = out.answered_all > 0 ? (cpu / out.answered_all) * 1e5 : null
  row.genCpuPct = (out.gen_cpu_s / (WARMUP + DURATION)) * 100
  row.meanUs = out.latency_us.mean
  row.inFlight = out.latency_us.mean != null ? (out.rps * out.latency_us.mean) / 1e6 : null
  return row
}

interface WrkResult {
  requests: number
  duration_us: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
  p50: number
  p99: number
  p999: number
  mean: number
}

async function wrk(env: Env, port: number, cell: Cell, seconds: number): Promise<WrkResult> {
  const w = WORKLOADS[cell.workload]
  const args = ['-t1', `-c${cell.conc}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '2s', '-s', join(ROOT, 'bench/wrk.lua'), `http://127.0.0.1:${port}${w.path}`]
  const wrkEnv = {
    ...process.env,
    BENCH_PATH: w.path,
    BENCH_BODY: `${w.body}`,
    BENCH_HEADERS: `${w.params ? w.params - 20 : 0}`,
  }
  const result = await runCommand(env.wrk!, args, { env: wrkEnv, timeoutMs: (seconds + 30) * 1000 })
  const line = result.stdout.split('\n').find((l) => l.startsWith('JSON '))
  if (!line) throw new Error(`wrk failed (${result.code}): ${(result.stderr || result.stdout).trim().slice(-500)}`)
  return JSON.parse(line.slice(5)) as WrkResult
}

async function nginxCell(env: Env, run: Running, nginx: Running, port: number, backend: Backend, cell: Cell): Promise<Row> {
  const row = baseRow('nginx', cell, backend)
  await wrk(env, port, cell, WARMUP)
  const pids = run.pids()
  const fePids = nginx.pids()
  resetPeak(pids)
  const cpu0 = cpuOf(pids)
  const fe0 = cpuOf(fePids)
  const foreign = foreignLoad()
  const out = await wrk(env, port, cell, DURATION)
  row.otherLoad = foreign()
  const cpu = cpuOf(pids) - cpu0
  const fe = cpuOf(fePids) - fe0
  row.peakRssMiB = hwmKiB(run.pids()) / 1024
  const errors = out.connect + out.read + out.write + out.status + out.timeout
  const ok = out.requests - out.status
  const seconds = out.duration_us / 1e6
  row.rps = ok / seconds
  row.requests = ok
  row.p50 = out.p50
  row.p99 = out.p99
  row.p999 = out.p999
  row.errors = errors
  row.errorKinds = Object.fromEntries(
    (['connect', 'read', 'write', 'status', 'timeout'] as const).filter((k) => out[k] > 0).map((k) => [k, out[k]]),
  )
  row.cpuPer100k = out.requests > 0 ? (cpu / out.requests) * 1e5 : null
  row.feCpuPer100k = out.requests > 0 ? (fe / out.requests) * 1e5 : null
  row.meanUs = out.mean
  row.inFlight = (row.rps * out.mean) / 1e6
  return row
}

// ---------- orchestration ----------

let tmpCounter = 0
async function addressFor(env: Env, transport: Transport, name: string): Promise<string> {
  if (transport === 'tcp') return `127.0.0.1:${await freePort()}`
  return `unix:${join(env.tmp, `${name.replace(/[^a-z0-9]+/gi, '-')}-${++tmpCounter}.sock`)}`
}

function skippedRows(section: Row['section'], backend: Backend, transport: Transport, why: string): Row[] {
  return cellsFor(section, backend, transport).map((cell) => ({ ...baseRow(section, cell, backend), status: 'skipped' as const, note: why }))
}

function failedRows(section: Row['section'], backend: Backend, cells: Cell[], why: string): Row[] {
  return cells.map((cell) => ({ ...baseRow(section, cell, backend), status: 'failed' as const, note: why }))
}

async function withBackend<T>(env: Env, backend: Backend, transport: Transport, fn: (run: Running) => Promise<T>): Promise<T> {
  const address = await addressFor(env, transport, backend.name)
  const run = await backend.start(env, address)
  try {
    return await fn(run)
  } finally {
    await run.stop()
  }
}

async function runSection(env: Env, section: Row['section'], backends: Backend[], rows: Row[]): Promise<void> {
  const transports: Transport[] = section === 'http' ? ['tcp'] : ['unix', 'tcp']
  for (const backend of backends) {
    for (const transport of transports) {
      const cells = cellsFor(section, backend, transport)
      if (cells.length === 0) continue
      const why = backend.unavailable(env) ?? (section === 'nginx' && !(env.nginx && env.wrk) ? 'nginx or wrk is not installed' : null)
      if (why) {
        log(`${section}: ${backend.name}: skipped (${why})`)
        rows.push(...skippedRows(section, backend, transport, why))
        continue
      }
      try {
        await withBackend(env, backend, transport, async (run) => {
          let nginx: Running | null = null
          let port = 0
          if (section === 'nginx') {
            port = await freePort()
            nginx = await B.startNginx(env, backend.name, run.address.startsWith('unix:') ? run.address : run.address, port)
          }
          try {
            for (const cell of cells) {
              let row: Row | null = null
              let attempts = 0
              for (let attempt = 0; ; attempt++) {
                attempts++
                let tried: Row
                try {
                  tried =
                    section === 'nginx'
                      ? await nginxCell(env, run, nginx!, port, backend, cell)
                      : await directCell(env, section, run, backend, cell)
                } catch (err) {
                  tried = { ...baseRow(section, cell, backend), status: 'failed', note: (err as Error).message }
                }
                if (!row || row.status !== 'ok' || (tried.status === 'ok' && (tried.otherLoad ?? 0) < (row.otherLoad ?? 0))) row = tried
                // Someone else used the machine meanwhile: measure again (a bounded number of times).
                const busy = row.status === 'ok' && (row.otherLoad ?? 0) > MAX_OTHER_LOAD
                if (!busy || attempt >= RETRIES_PER_CELL || retriesLeft <= 0) break
                retriesLeft--
                log(`${section}: ${backend.name} ${cellKey(cell)}: ${(row.otherLoad ?? 0).toFixed(2)} cores used by other processes; measuring again`)
                await sleep(1000)
              }
              row.attempts = attempts
              rows.push(row)
              log(`${section}: ${backend.name} ${cellKey(cell)}: ${summary(row)}`)
            }
          } finally {
            await nginx?.stop()
          }
        })
      } catch (err) {
        log(`${section}: ${backend.name} ${transport}: failed: ${(err as Error).message}`)
        rows.push(...failedRows(section, backend, cells, (err as Error).message))
      }
    }
  }
}

function summary(row: Row): string {
  if (row.status !== 'ok') return `${row.status}: ${row.note ?? ''}`
  const f = (n: number | null | undefined, d = 0) => (n == null ? '-' : n.toFixed(d))
  return (
    `${f(row.rps)} req/s, p50 ${f(row.p50)} µs, p99 ${f(row.p99)} µs, ${f(row.cpuPer100k, 2)} CPU-s/100k, ` +
    `peak ${f(row.peakRssMiB, 1)} MiB, other load ${f(row.otherLoad, 2)} cores${row.errors ? `, ${row.errors} errors ${JSON.stringify(row.errorKinds)}` : ''}`
  )
}

/** Memory held by 10 000 idle kept connections. */
async function idleTest(env: Env, backend: Backend): Promise<IdleResult> {
  const why = backend.unavailable(env)
  if (why) return { backend: backend.name, status: 'skipped', note: why }
  try {
    return await withBackend(env, backend, 'unix', async (run) => {
      await generator(env, ['fcgi', '--target', run.address, '--conns', '4', '--requests', '2000'], 60_000)
      await sleep(500)
      const before = rssKiB(run.pids())
      let during = 0
      let ready: Record<string, unknown> | null = null
      const result = await runCommand(
        join(env.bin, 'fcgi-bench'),
        ['idle', '--target', run.address, '--conns', `${IDLE_CONNS}`, '--hold', '120'],
        {
          timeoutMs: 180_000,
          stdin: 'pipe',
          onLine: (line: string, child: ChildProcess) => {
            if (!line.includes('"ready"')) return
            ready = JSON.parse(line) as Record<string, unknown>
            setTimeout(() => {
              during = rssKiB(run.pids())
              child.stdin?.end()
            }, 1000)
          },
        },
      )
      const done = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>
      const held = Number((ready as Record<string, unknown> | null)?.conns ?? 0)
      return {
        backend: backend.name,
        status: held > 0 && during > 0 ? 'ok' : 'failed',
        conns: held,
        failed: Number(done.failed ?? 0),
        closedByServer: Number(done.closed_by_server ?? 0),
        connectSeconds: Number(done.seconds ?? 0),
        rssBeforeMiB: before / 1024,
        rssIdleMiB: during / 1024,
        perConnKiB: held > 0 ? (during - before) / held : null,
        note: held === 0 ? result.stderr.slice(-300) : undefined,
      } satisfies IdleResult
    })
  } catch (err) {
    return { backend: backend.name, status: 'failed', note: (err as Error).message }
  }
}

/** RSS while one upload of UPLOAD_BYTES streams in. */
async function uploadTest(env: Env, backend: Backend): Promise<UploadResult> {
  const why = backend.unavailable(env)
  if (why) return { backend: backend.name, status: 'skipped', note: why }
  try {
    return await withBackend(env, backend, 'unix', async (run) => {
      await generator(env, ['fcgi', '--target', run.address, '--conns', '1', '--requests', '200', '--path', '/upload', '--body', '65536'], 60_000)
      await sleep(500)
      const pids = run.pids()
      const before = rssKiB(pids)
      resetPeak(pids)
      let sampledPeak = before
      const timer = setInterval(() => (sampledPeak = Math.max(sampledPeak, rssKiB(pids))), 50)
      let out: Record<string, unknown>
      try {
        out = await generator(env, ['upload', '--target', run.address, '--size', `${UPLOAD_BYTES}`, '--path', '/upload', '--method', 'POST'], 300_000)
      } finally {
        clearInterval(timer)
      }
      const peak = Math.max(hwmKiB(pids), sampledPeak)
      const response = String(out.response ?? '')
      const ok = out.status === 200 && response === `${UPLOAD_BYTES}`
      return {
        backend: backend.name,
        status: ok ? 'ok' : 'failed',
        bytes: UPLOAD_BYTES,
        seconds: Number(out.seconds),
        mibPerS: Number(out.mib_per_s),
        rssBeforeMiB: before / 1024,
        rssPeakMiB: peak / 1024,
        growthMiB: (peak - before) / 1024,
        note: ok ? undefined : `status ${String(out.status)}, response ${JSON.stringify(response)}`,
      } satisfies UploadResult
    })
  } catch (err) {
    return { backend: backend.name, status: 'failed', note: (err as Error).message }
  }
}

/** Ratios to the native engine (or js) in the same section and cell. */
function addRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row.status !== 'ok') continue
    const candidates = row.section === 'http' ? ['native serveHttp', 'js serveHttp'] : ['native', 'js']
    for (const name of candidates) {
      const ref = rows.find((r) => r.section === row.section && r.cell === row.cell && r.backend === name && r.status === 'ok')
      if (!ref) continue
      row.ref = name
      row.rpsRatio = ref.rps ? (row.rps ?? 0) / ref.rps : null
      row.cpuRatio = ref.cpuPer100k && row.cpuPer100k != null ? row.cpuPer100k / ref.cpuPer100k : null
      break
    }
  }
}

async function main(): Promise<void> {
  const started = Date.now()
  const tmp = mkdtempSync(join(os.tmpdir(), 'fcgi-bench-'))
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true }))
  const native = await probeNative()
  const tools = B.findTools()
  const env: Env = {
    root: ROOT,
    bin: buildGenerator(),
    tmp,
    node: process.execPath,
    ...tools,
    nativeError: native.fcgi,
    nativeHttpError: native.http,
  }
  B.preparePeers(env, log)
  if (env.nativeError) log(`native engine unavailable: ${env.nativeError}`)
  if (env.nativeHttpError && !env.nativeError) log(`native serveHttp unavailable: ${env.nativeHttpError}`)
  const pick = (list: Backend[]) => list.filter((b) => !ONLY || ONLY.test(b.name))
  const fcgiBackends = pick(B.FCGI_BACKENDS.filter((b) => !(QUICK && b === B.php1)))
  const httpBackends = pick(B.HTTP_BACKENDS)

  const meta: Meta = {
    date: new Date().toISOString(),
    quick: QUICK,
    nproc: os.availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?',
    kernel: os.release(),
    memGiB: os.totalmem() / 2 ** 30,
    versions: {
      node: process.version,
      nginx: version(env.nginx, ['-v'], /nginx\/(\S+)/),
      go: version(env.go, ['version'], /go version go(\S+)/),
      php: version(env.phpFpm, ['-v'], /PHP (\S+)/),
      rustc: version('rustc', ['-V'], /rustc (\S+)/),
      wrk: version(env.wrk, ['-v'], /wrk (\S+)/),
      'node-fastcgi': (() => {
        try {
          return (JSON.parse(readFileSync(join(ROOT, 'bench/peers/node_modules/node-fastcgi/package.json'), 'utf8')) as { version: string }).version
        } catch {
          return 'not installed'
        }
      })(),
    },
    settings: {
      durationS: DURATION,
      warmupS: WARMUP,
      generatorThreads: 1,
      nativeThreads: Number(process.env.FCGI_NATIVE_THREADS ?? 1),
      idleConns: IDLE_CONNS,
      uploadBytes: UPLOAD_BYTES,
    },
    nativeAvailable: env.nativeError === null,
    nativeHttpAvailable: env.nativeHttpError === null,
    descriptions: Object.fromEntries([...B.FCGI_BACKENDS, ...B.HTTP_BACKENDS].map((b) => [b.name, b.description])),
    seconds: 0,
  }

  const rows: Row[] = []
  await runSection(env, 'direct', fcgiBackends, rows)
  await runSection(env, 'nginx', fcgiBackends, rows)
  await runSection(env, 'http', httpBackends, rows)
  const idle: IdleResult[] = []
  const upload: UploadResult[] = []
  for (const backend of pick(QUICK ? [B.native, B.js] : [B.native, B.js, B.ceiling, B.goFcgi, B.nodeFastcgi])) {
    const result = await idleTest(env, backend)
    log(`idle: ${backend.name}: ${JSON.stringify(result)}`)
    idle.push(result)
  }
  for (const backend of pick(QUICK ? [B.native, B.js] : [B.native, B.js, B.ceiling])) {
    const result = await uploadTest(env, backend)
    log(`upload: ${backend.name}: ${JSON.stringify(result)}`)
    upload.push(result)
  }
  addRatios(rows)
  meta.seconds = (Date.now() - started) / 1000

  const outDir = join(ROOT, 'bench/results')
  mkdirSync(outDir, { recursive: true })
  const base = join(outDir, QUICK ? 'quick' : 'latest')
  const svgName = `${QUICK ? 'quick' : 'latest'}.svg`
  writeFileSync(`${base}.json`, `${JSON.stringify({ meta, rows, idle, upload }, null, 1)}\n`)
  writeFileSync(`${base}.svg`, renderSvg(meta, rows))
  writeFileSync(`${base}.md`, renderMarkdown(meta, rows, idle, upload, svgName))
  log(`wrote ${base}.md, ${base}.svg, ${base}.json in ${meta.seconds.toFixed(0)} s`)
  rmSync(tmp, { recursive: true, force: true })

  // The check: every row that ran has numbers; our engines have no errors.
  const problems: string[] = []
  for (const row of rows) {
    const where = `${row.section} ${row.backend} ${row.cell}`
    if (row.status === 'failed') problems.push(`${where}: failed: ${row.note}`)
    else if (row.status === 'skipped') {
      if (REQUIRE_ALL) problems.push(`${where}: skipped (${row.note}) under BENCH_REQUIRE_ALL=1`)
    } else if (!(row.rps! > 0) || row.p50 == null || row.p99 == null || row.cpuPer100k == null || !(row.peakRssMiB! > 0)) {
      problems.push(`${where}: no numbers (${summary(row)})`)
    } else if (QUICK && /^(native|js)/.test(row.backend) && row.errors) {
      problems.push(`${where}: ${row.errors} errors ${JSON.stringify(row.errorKinds)}`)
    }
  }
  for (const r of [...idle, ...upload]) {
    if (r.status === 'failed' || (r.status === 'skipped' && REQUIRE_ALL)) problems.push(`memory ${r.backend}: ${r.status}: ${r.note ?? ''}`)
  }
  process.stdout.write(readFileSync(`${base}.md`, 'utf8'))
  if (problems.length) {
    log(`${problems.length} problem(s):\n  ${problems.join('\n  ')}`)
    process.exitCode = 1
  } else {
    log(`every row produced numbers (${rows.filter((r) => r.status === 'ok').length} ran, ${rows.filter((r) => r.status === 'skipped').length} skipped)`)
  }
}

await main()
