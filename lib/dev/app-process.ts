// The app under `fcgi dev`: a child process running `fcgi serve <module>` on a private unix
// socket, restarted on demand. A fresh process per restart is the only way to load edited ES
// modules again (Node's module cache cannot be cleared).
import { spawn, type ChildProcess } from 'node:child_process'
import { FcgiClient } from '../client.ts'

export type AppState = { client: FcgiClient; engine: string } | { error: string }

const READY = /over FastCGI on .* \(engine (\w+)\)/
const START_TIMEOUT_MS = 15_000
const STOP_GRACE_MS = 3000

export class AppProcess {
  private child: ChildProcess | null = null
  private state: Promise<AppState> = Promise.resolve({ error: 'not started' })

  /** `command`: how to run this CLI again (node, its flags, the fcgi script). */
  constructor(
    private readonly command: { file: string; args: string[] },
    private readonly module: string,
    private readonly socket: string,
    private readonly engine: string,
  ) {}

  /** The running app's client, or why there is none (a crash, a syntax error). */
  current(): Promise<AppState> {
    return this.state
  }

  async restart(): Promise<AppState> {
    await this.stop()
    this.state = this.start()
    return this.state
  }

  async stop(): Promise<void> {
    const child = this.child
    this.child = null
    const state = await this.state
    if ('client' in state) state.client.close()
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    await exited
    clearTimeout(timer)
  }

  private start(): Promise<AppState> {
    const { file, args } = this.command
    const child = spawn(file, [...args, 'serve', this.module, '--listen', this.socket, '--engine', this.engine], {
      stdio: ['ignore', 'inherit', 'pipe'],
    })
    this.child = child
    return new Promise<AppState>((resolve) => {
      let output = ''
      let ready = false
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        resolve({ error: `the app did not start listening within ${START_TIMEOUT_MS / 1000} s` })
      }, START_TIMEOUT_MS)
      child.stderr!.on('data', (d: Buffer) => {
        process.stderr.write(d) // the app's own log lines, as they come
        if (ready) return
        output += d
        const m = READY.exec(output)
        if (m) {
          ready = true
          clearTimeout(timer)
          resolve({ client: new FcgiClient(this.socket), engine: m[1] })
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        if (!ready) resolve({ error: `the app exited (${code ?? signal}) before listening:\n${output.trim()}` })
        else if (this.child === child) this.state = Promise.resolve({ error: `the app exited (${code ?? signal}); save a file to restart it` })
      })
    })
  }
}
