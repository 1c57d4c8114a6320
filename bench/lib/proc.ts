// Processes for the bench: spawning with a READY handshake, /proc accounting (CPU ticks, RSS,
// peak RSS), free ports, waiting for sockets.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** utime + stime of one process, all its threads, in seconds (0 if it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return 0
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return -1
  }
}

/** `pid` and all its descendants (php-fpm's children, nginx's worker). */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (/^\d+$/.test(entry)) parents.set(Number(entry), parentOf(Number(entry)))
  }
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child)
  }
  return tree.filter((p) => existsSync(`/proc/${p}`))
}

function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

export const rssKiB = (pids: number[]) => pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmRSS'), 0)
/** Sum of the processes' peak RSS since their last `resetPeak` (or start). */
export const hwmKiB = (pids: number[]) => pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmHWM'), 0)
export const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)

/** Resets VmHWM to the current RSS (Linux ≥ 4.0; needs write access to /proc/<pid>/clear_refs). */
export function resetPeak(pids: number[]): boolean {
  let ok = true
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5')
    } catch {
      ok = false
    }
  }
  return ok
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Polls until something accepts connections on `address` (`unix:/p` or `host:port`). */
export async function waitConnectable(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = address.startsWith('unix:')
        ? net.connect(address.slice(5))
        : net.connect(Number(address.slice(address.lastIndexOf(':') + 1)), address.slice(0, address.lastIndexOf(':')))
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address} after ${timeoutMs} ms`)
    await sleep(50)
  }
}

export interface Started {
  child: ChildProcess
  pid: number
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>
  stop(): Promise<void>
}

/**
 * Spawns `cmd` with stdout/stderr appended to `logFile`; resolves once a stdout line starts with
 * `READY` (or, with `ready: address`, once that address accepts connections).
 */
export async function startProcess(
  cmd: string,
  args: string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv; ready?: string; timeoutMs?: number; stopSignal?: NodeJS.Signals },
): Promise<Started> {
  const log = createWriteStream(opts.logFile, { flags: 'a' })
  log.write(`$ ${cmd} ${args.join(' ')}\n`)
  const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.stderr!.pipe(log, { end: false })
  const timeoutMs = opts.timeoutMs ?? 30_000
  let sawReady: () => void
  const readyLine = new Promise<void>((resolve) => (sawReady = resolve))
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk)
    buffered += chunk.toString()
    if (/^READY/m.test(buffered)) sawReady()
    if (buffered.length > 10_000) buffered = buffered.slice(-1000)
  })
  const failed = exited.then((code) => {
    throw new Error(`${cmd} exited (${code}) before it was ready; see ${opts.logFile}`)
  })
  const ready = opts.ready ? waitConnectable(opts.ready, timeoutMs) : readyLine
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${cmd} not ready after ${timeoutMs} ms; see ${opts.logFile}`)), timeoutMs)
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(opts.stopSignal ?? 'SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(killer)
    }
    log.end()
  }
  try {
    await Promise.race([ready, failed, timeout])
  } catch (err) {
    await stop()
    throw err
  } finally {
    clearTimeout(timer)
    failed.catch(() => {})
  }
  return { child, pid: child.pid!, exited, stop }
}

/** Runs a command to completion, collecting stdout; kills it after `timeoutMs`. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number; stdin?: 'ignore' | 'pipe'; onLine?: (line: string, child: ChildProcess) => void },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let pending = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      stdout += text
      if (opts.onLine) {
        pending += text
        let nl: number
        while ((nl = pending.indexOf('\n')) !== -1) {
          opts.onLine(pending.slice(0, nl), child)
          pending = pending.slice(nl + 1)
        }
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (stderr.length > 100_000) stderr = stderr.slice(-10_000)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export function which(name: string, extra: string[] = []): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extra]) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`
  }
  return null
}

/** CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal), all cores. */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
  return (user + nice + system + irq + softirq + steal) / CLK_TCK
}

/**
 * CPU seconds used by this process and everything it started: its own time, its reaped children's
 * (cutime + cstime: the load generators and wrk once they exit), and every live descendant's.
 */
export function ownTreeSeconds(): number {
  let total = 0
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK
  } catch {}
  for (const pid of processTree(process.pid)) if (pid !== process.pid) total += cpuSeconds(pid)
  return total
}

/** Measures the CPU that processes outside this bench used meanwhile (other users of the machine). */
export function foreignLoad(): () => number {
  const busy0 = machineBusySeconds()
  const own0 = ownTreeSeconds()
  const t0 = Date.now()
  return () => {
    const seconds = (Date.now() - t0) / 1000
    const foreign = machineBusySeconds() - busy0 - (ownTreeSeconds() - own0)
    return seconds > 0 ? Math.max(0, foreign / seconds) : 0
  }
}
