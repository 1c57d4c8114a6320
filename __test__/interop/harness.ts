// Real front ends on loopback for interop tests: write a config into a temp dir, start the
// program with its own pid/log files (never the system service), wait until its port answers,
// stop it by PID. A missing program skips the test with a clear message, unless
// FCGI_REQUIRE_INTEROP=1 (CI), where it fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
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
    await new Promise((r) => setTimeout(r, 50))
  }
}

export interface FrontEnd {
  port: number
  dir: string
  errorLog(): string
  stop(): Promise<void>
}

/** Start a foreground front end process; `logFile` is read by errorLog(). */
export async function startProcess(cmd: string, args: string[], opts: { port: number; dir: string; logFile: string }): Promise<FrontEnd> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.dir })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d))
  child.stderr!.on('data', (d: Buffer) => (output += d))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
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
  return {
    port: opts.port,
    dir: opts.dir,
    errorLog: () => (existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : '') + output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
    },
  }
}

export function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0]
}
