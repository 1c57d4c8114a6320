// A small lab of hosts in network namespaces for the pool tests: a "front" namespace that runs
// the front end, and one namespace per back-end host, each joined to front by its own veth pair
// with a /30 whose two addresses exist only inside the namespaces. The test process reaches the
// front end through a unix socket (path sockets are not scoped by network namespace), so nothing
// is addressed outside the lab. Everything is removed by destroy(), and at exit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { sleep, waitFor, which } from './harness.ts'

export interface LabHost {
  ns: string
  /** the host's own address, reachable from the front namespace only */
  addr: string
}

export interface Lab {
  front: string
  hosts: LabHost[]
  destroy(): void
}

/** null when namespaces can be made here; else why the pool tests must skip (or fail in CI). */
export function netnsMissing(): string | null {
  let why: string | null = null
  if (!which('ip')) why = 'ip (iproute2) is not installed'
  else if (process.getuid?.() !== 0) why = 'network namespaces need root'
  else {
    const probe = `fcgi-probe-${process.pid}`
    const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
    if (r.status !== 0) why = `ip netns add failed: ${r.stderr.trim()}`
    else spawnSync('ip', ['netns', 'del', probe])
  }
  if (why && process.env.FCGI_REQUIRE_INTEROP === '1') throw new Error(`FCGI_REQUIRE_INTEROP=1: ${why}`)
  return why
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`)
}

const labs = new Set<Lab>()
process.once('exit', () => {
  for (const lab of labs) lab.destroy()
})

export function createLab(hostCount: number): Lab {
  const tag = `${process.pid % 100000}`
  const front = `fcgi-${tag}-front`
  const hosts: LabHost[] = []
  const links: string[] = []
  const namespaces = [front]
  const lab: Lab = {
    front,
    hosts,
    destroy() {
      labs.delete(lab)
      for (const link of links) spawnSync('ip', ['link', 'del', link])
      for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns])
    },
  }
  labs.add(lab)
  try {
    ip('netns', 'add', front)
    ip('netns', 'exec', front, 'ip', 'link', 'set', 'lo', 'up')
    for (let i = 1; i <= hostCount; i++) {
      const ns = `fcgi-${tag}-h${i}`
      const frontEnd = `fv${tag}f${i}`
      const hostEnd = `fv${tag}h${i}`
      ip('netns', 'add', ns)
      namespaces.push(ns)
      ip('link', 'add', frontEnd, 'type', 'veth', 'peer', 'name', hostEnd)
      links.push(frontEnd)
      ip('link', 'set', frontEnd, 'netns', front)
      ip('link', 'set', hostEnd, 'netns', ns)
      ip('-n', front, 'addr', 'add', `10.213.${i}.1/30`, 'dev', frontEnd)
      ip('-n', front, 'link', 'set', frontEnd, 'up')
      ip('-n', ns, 'addr', 'add', `10.213.${i}.2/30`, 'dev', hostEnd)
      ip('-n', ns, 'link', 'set', hostEnd, 'up')
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      hosts.push({ ns, addr: `10.213.${i}.2` })
    }
  } catch (err) {
    lab.destroy()
    throw err
  }
  return lab
}

/** A process inside a namespace (`ip netns exec` execs it: the PID is the program's own). */
export interface NsProcess {
  child: ChildProcess
  output(): string
  exited: Promise<void>
  signal(sig: NodeJS.Signals): void
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone */
  stop(graceMs?: number): Promise<void>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

export function spawnIn(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, cwd })
  live.add(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  exited.then(() => live.delete(child))
  const gone = () => child.exitCode !== null || child.signalCode !== null
  return {
    child,
    output: () => out,
    exited,
    signal: (sig) => {
      if (!gone()) child.kill(sig)
    },
    async stop(graceMs = 10_000) {
      if (gone()) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

/** Wait until something accepts on the unix socket `path`. */
export async function waitForUnixSocket(path: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `a listener on ${path}`,
    () =>
      new Promise<boolean>((resolve) => {
        const c = net.connect(path)
        c.once('connect', () => {
          c.destroy()
          resolve(true)
        })
        c.once('error', () => resolve(false))
      }),
    timeoutMs,
  )
}

export { sleep }
