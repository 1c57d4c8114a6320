// Real front ends on loopback for interop tests: write a config into a temp dir, start the
// program in the foreground with its own pid/log files (never the system service, never port
// 80), wait until its port answers, stop it by PID (the temp dir goes too, unless
// FCGI_INTEROP_KEEP=1). A missing program skips the test with a clear message, unless
// FCGI_REQUIRE_INTEROP=1 (CI), where it fails.
// Also: a small HTTP/1.1 client with the body modes the cases need (Content-Length, chunked,
// slow), a raw-socket HEAD-then-GET, and bounded polling.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function which(program: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, program)
    if (existsSync(p)) return p
  }
  return null
}

/** null when the program can be used; else why the test must skip (or fail in CI). */
export function missing(program: string): string | null {
  if (which(program)) return null
  const why = `${program} is not installed (apt-get install it, or see .ci/run)`
  if (process.env.FCGI_REQUIRE_INTEROP === '1') throw new Error(`FCGI_REQUIRE_INTEROP=1: ${why}`)
  return why
}

/** Like missing(), for a file the front end needs (e.g. an Apache module). */
export function missingFile(path: string, why: string): string | null {
  if (existsSync(path)) return null
  if (process.env.FCGI_REQUIRE_INTEROP === '1') throw new Error(`FCGI_REQUIRE_INTEROP=1: ${why}`)
  return why
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fcgi-${prefix}-`))
}

export async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1')
      c.once('connect', () => {
        c.destroy()
        resolve(true)
      })
      c.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await sleep(50)
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Poll `probe` until it returns a truthy value; throw `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T> | T, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`)
    await sleep(everyMs)
  }
}

export interface FrontEnd {
  port: number
  dir: string
  pid: number
  errorLog(): string
  stop(): Promise<void>
}

// Every process started here is killed if the test process exits without stopping it.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** Start a foreground front end process; `logFile` (and its stdout/stderr) is read by errorLog(). */
export async function startProcess(
  cmd: string,
  args: string[],
  opts: { port: number; dir: string; logFile: string; env?: NodeJS.ProcessEnv; logFiles?: string[] },
): Promise<FrontEnd> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.dir, env: opts.env ?? process.env })
  live.add(child)
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d))
  child.stderr!.on('data', (d: Buffer) => (output += d))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  exited.then(() => live.delete(child))
  try {
    await Promise.race([
      waitForPort(opts.port),
      exited.then(() => {
        throw new Error(`${cmd} exited at start: ${output}`)
      }),
    ])
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  const files = [opts.logFile, ...(opts.logFiles ?? [])]
  return {
    port: opts.port,
    dir: opts.dir,
    pid: child.pid!,
    errorLog: () => files.map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('') + output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
      // config, logs, temp files: kept only when asked (to look at a failure)
      if (process.env.FCGI_INTEROP_KEEP !== '1') rmSync(opts.dir, { recursive: true, force: true })
    },
  }
}

export function version(cmd: string, args: string[], pattern?: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  const out = `${r.stdout}${r.stderr}`.trim()
  if (pattern) return pattern.exec(out)?.[0] ?? out.split('\n')[0]
  return out.split('\n')[0]
}

// ---- HTTP client ------------------------------------------------------------------------------

export interface HttpOptions {
  method?: string
  headers?: Record<string, string>
  body?: Buffer
  /** 'length' (default): Content-Length; 'chunked': Transfer-Encoding: chunked, no length, in
   * 64 KiB writes; 'slow': Content-Length, the body in two halves `slowPauseMs` apart. */
  bodyMode?: 'length' | 'chunked' | 'slow'
  slowPauseMs?: number
  timeoutMs?: number
}

export interface HttpResult {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** milliseconds until the response ended */
  ms: number
}

export function http(port: number, path: string, o: HttpOptions = {}): Promise<HttpResult> {
  const started = Date.now()
  const timeoutMs = o.timeoutMs ?? 30_000
  const mode = o.bodyMode ?? 'length'
  const headers: Record<string, string> = { ...o.headers }
  if (o.body && mode !== 'chunked') headers['Content-Length'] = String(o.body.length)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: o.method ?? (o.body ? 'POST' : 'GET'), headers, agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), ms: Date.now() - started })
      })
      res.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
    const timer = setTimeout(() => {
      req.destroy(new Error(`${o.method ?? 'GET'} ${path}: no complete response after ${timeoutMs} ms`))
    }, timeoutMs)
    req.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    const body = o.body
    if (!body) return void req.end()
    if (mode === 'length') return void req.end(body)
    if (mode === 'chunked') {
      const write = async () => {
        for (let off = 0; off < body.length; off += 65536) {
          if (!req.write(body.subarray(off, off + 65536))) await new Promise((r) => req.once('drain', r))
        }
        req.end()
      }
      write().catch(reject)
      return
    }
    const half = body.length >> 1
    req.write(body.subarray(0, half))
    setTimeout(() => req.end(body.subarray(half)), o.slowPauseMs ?? 500)
  })
}

/** Send a request on a raw socket and leave it hanging; the returned function closes the socket
 * (a client that gives up). */
export async function abandonedRequest(port: number, path: string, headers: Record<string, string> = {}): Promise<() => void> {
  const s = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve)
    s.once('error', reject)
  })
  s.on('error', () => {})
  s.on('data', () => {})
  let head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  s.write(head + '\r\n')
  return () => s.destroy()
}

export interface RawResponse {
  status: number
  head: string
  body: Buffer
}

/** One client connection: HEAD `headPath`, check that nothing follows the head, then GET
 * `getPath` on the same connection. */
export async function headThenGet(
  port: number,
  headPath: string,
  getPath: string,
  headers: Record<string, string> = {},
): Promise<{ head: RawResponse; bytesAfterHead: number; get: RawResponse }> {
  const s = net.connect(port, '127.0.0.1')
  let buf = Buffer.alloc(0)
  let ended = false
  let wake: (() => void) | null = null
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    wake?.()
  })
  s.on('end', () => {
    ended = true
    wake?.()
  })
  s.on('error', () => {
    ended = true
    wake?.()
  })
  const deadline = Date.now() + 20_000
  const more = () =>
    new Promise<void>((resolve, reject) => {
      if (ended) return reject(new Error(`connection closed; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`))
      const t = setTimeout(() => reject(new Error('no response within 20 s')), Math.max(1, deadline - Date.now()))
      wake = () => {
        clearTimeout(t)
        wake = null
        resolve()
      }
    })
  const readHead = async (): Promise<{ status: number; head: string }> => {
    for (;;) {
      const i = buf.indexOf('\r\n\r\n')
      if (i >= 0) {
        const head = buf.subarray(0, i).toString('latin1')
        buf = buf.subarray(i + 4)
        return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head }
      }
      await more()
    }
  }
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve)
      s.once('error', reject)
    })
    s.write(`HEAD ${headPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`)
    const h = await readHead()
    await sleep(200) // anything sent after the head would have arrived by now
    const bytesAfterHead = buf.length
    buf = Buffer.alloc(0)
    s.write(`GET ${getPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`)
    const g = await readHead()
    let body: Buffer
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(g.head)
    if (/\r\ntransfer-encoding:\s*chunked/i.test(g.head)) {
      const parts: Buffer[] = []
      for (;;) {
        let i: number
        while ((i = buf.indexOf('\r\n')) < 0) await more()
        const size = parseInt(buf.subarray(0, i).toString('latin1'), 16)
        while (buf.length < i + 2 + size + 2) await more()
        parts.push(buf.subarray(i + 2, i + 2 + size))
        buf = buf.subarray(i + 2 + size + 2)
        if (size === 0) break
      }
      body = Buffer.concat(parts)
    } else if (length) {
      while (buf.length < Number(length[1])) await more()
      body = buf.subarray(0, Number(length[1]))
    } else {
      while (!ended) {
        if (Date.now() > deadline) throw new Error('GET response not finished within 20 s')
        await more().catch(() => {})
      }
      body = buf
    }
    return { head: { ...h, body: Buffer.alloc(0) }, bytesAfterHead, get: { ...g, body } }
  } finally {
    s.destroy()
  }
}

/** POST `total` bytes with a Content-Length but send only `first` of them, then wait up to
 * `waitMs` for the response head: a front end that streams the body lets the handler answer
 * now; one that buffers it cannot. Then the rest is sent and the response read. */
export function partialUpload(
  port: number,
  path: string,
  o: { total: number; first: number; waitMs: number; headers?: Record<string, string> },
): Promise<{ answeredEarly: boolean; status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let answeredEarly = false
    let sentAll = false
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { ...o.headers, 'Content-Length': String(o.total) }, agent: false },
      (res) => {
        if (!sentAll) answeredEarly = true
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => {
          clearTimeout(timer)
          resolve({ answeredEarly, status: res.statusCode!, body: Buffer.concat(parts) })
        })
        res.on('error', reject)
      },
    )
    const timer = setTimeout(() => req.destroy(new Error(`${path}: no response after 20 s`)), 20_000)
    req.on('error', (err) => {
      // the front end may stop reading (or close) once the response is out
      if (!answeredEarly) {
        clearTimeout(timer)
        reject(err)
      }
    })
    req.write(Buffer.alloc(o.first, 1))
    setTimeout(() => {
      sentAll = true
      req.end(Buffer.alloc(o.total - o.first, 2))
    }, o.waitMs)
  })
}
