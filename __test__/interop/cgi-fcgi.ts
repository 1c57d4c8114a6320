// `cgi-fcgi -bind -connect <addr>` (libfcgi-bin) as a plain FastCGI client: it builds one
// request from its environment (the CGI variables) and stdin, prints the CGI response on stdout
// and the FCGI_STDERR stream on stderr, and exits. A Target that runs one per request, so the
// cases read the same as for an HTTP front end. A run that exits non-zero without printing a
// response counts as a 502, which is what a web server running it as a CGI program would answer.
import { spawn } from 'node:child_process'
import type { Target } from './cases.ts'
import { sleep, which, type HttpOptions, type HttpResult } from './harness.ts'

interface Run {
  status: number
  headers: Record<string, string>
  body: Buffer
  stderr: string
  exitCode: number | null
  ms: number
}

function cgiEnv(path: string, o: HttpOptions): NodeJS.ProcessEnv {
  const u = new URL(path, 'http://127.0.0.1')
  const method = o.method ?? (o.body ? 'POST' : 'GET')
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'cgi-fcgi',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '80',
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: method,
    REQUEST_URI: path,
    SCRIPT_NAME: u.pathname,
    QUERY_STRING: u.search.slice(1),
  }
  if (o.body && o.bodyMode !== 'chunked') env.CONTENT_LENGTH = String(o.body.length)
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    const name = k.toUpperCase().replaceAll('-', '_')
    env[name === 'CONTENT_TYPE' ? name : `HTTP_${name}`] = v
  }
  return env
}

function parseCgi(out: Buffer): { status: number; headers: Record<string, string>; body: Buffer } {
  let end = out.indexOf('\r\n\r\n')
  let sep = 4
  if (end < 0) {
    end = out.indexOf('\n\n')
    sep = 2
  }
  if (end < 0) return { status: 502, headers: {}, body: out }
  const headers: Record<string, string> = {}
  for (const line of out.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  const status = Number(/^\d{3}/.exec(headers.status ?? '200')?.[0] ?? 502)
  return { status, headers, body: out.subarray(end + sep) }
}

export function cgiFcgiTarget(address: string): Target & { runs: number } {
  const bin = which('cgi-fcgi')!
  let log = ''
  const state = { runs: 0 }
  const run = (path: string, o: HttpOptions = {}, onSpawn?: (kill: () => void) => void): Promise<Run> => {
    const started = Date.now()
    state.runs++
    const child = spawn(bin, ['-bind', '-connect', address], { env: cgiEnv(path, o), stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => (err += d))
    child.stdin.on('error', () => {}) // it may exit (connect failed) before reading stdin
    onSpawn?.(() => child.kill('SIGKILL'))
    const timeoutMs = o.timeoutMs ?? 30_000
    const done = new Promise<Run>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`cgi-fcgi ${path}: no complete response after ${timeoutMs} ms`))
      }, timeoutMs)
      child.on('error', reject)
      child.on('close', (code) => {
        clearTimeout(timer)
        log += err
        const stdout = Buffer.concat(out)
        const parsed = stdout.length === 0 && code !== 0 ? { status: 502, headers: {}, body: Buffer.alloc(0) } : parseCgi(stdout)
        resolve({ ...parsed, stderr: err, exitCode: code, ms: Date.now() - started })
      })
    })
    const body = o.body
    const feed = async () => {
      if (body && o.bodyMode === 'slow') {
        const half = body.length >> 1
        child.stdin.write(body.subarray(0, half))
        await sleep(o.slowPauseMs ?? 500)
        child.stdin.end(body.subarray(half))
      } else child.stdin.end(body)
    }
    feed().catch(() => {})
    return done
  }
  const toHttp = (r: Run): HttpResult => ({ status: r.status, headers: r.headers, body: r.body, ms: r.ms })
  return {
    get runs() {
      return state.runs
    },
    request: async (path, o) => toHttp(await run(path, o)),
    async headThenGet(headPath, getPath) {
      // one request per cgi-fcgi run: there is no client connection to share
      const h = await run(headPath, { method: 'HEAD' })
      const g = await run(getPath)
      return {
        head: { status: h.status, head: JSON.stringify(h.headers), body: Buffer.alloc(0) },
        bytesAfterHead: h.body.length,
        get: { status: g.status, head: JSON.stringify(g.headers), body: g.body },
      }
    },
    async abandon(path) {
      let kill: () => void = () => {}
      run(path, {}, (k) => (kill = k)).catch(() => {})
      return () => kill()
    },
    async partialUpload(path, p) {
      // CONTENT_LENGTH says `total`; stdin gets `first` bytes, the rest after `waitMs`
      const started = Date.now()
      const child = spawn(bin, ['-bind', '-connect', address], { env: cgiEnv(path, { method: 'POST', body: Buffer.alloc(p.total) }), stdio: ['pipe', 'pipe', 'pipe'] })
      state.runs++
      const out: Buffer[] = []
      let firstOutput = -1
      child.stdout.on('data', (d: Buffer) => {
        if (firstOutput < 0) firstOutput = Date.now() - started
        out.push(d)
      })
      child.stderr.on('data', (d: Buffer) => (log += d))
      child.stdin.on('error', () => {})
      // it exits as soon as END_REQUEST arrives, possibly before it read all of stdin
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      child.stdin.write(Buffer.alloc(p.first, 1))
      await sleep(p.waitMs)
      const answeredEarly = firstOutput >= 0
      child.stdin.end(Buffer.alloc(p.total - p.first, 2))
      const code = await closed
      clearTimeout(timer)
      const parsed = parseCgi(Buffer.concat(out))
      return { answeredEarly, status: code === 0 ? parsed.status : 502, body: parsed.body }
    },
    errorLog: () => log,
  }
}
