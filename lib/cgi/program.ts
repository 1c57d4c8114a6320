// A real CGI executable behind FastCGI, what fcgiwrap does: one process per request with the
// request's CGI meta-variables as its environment (RFC 3875 section 4), the body streamed to its
// stdin, its stdout parsed as CGI output and streamed back, its stderr to FCGI_STDERR. Bounded:
// at most `maxProcesses` at once (the others wait, within their timeout), a per-request
// timeout, and the process group killed when the request is aborted or times out.
import { spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import type { FcgiRequest } from '../request.ts'
import type { FcgiResponse } from '../response.ts'
import type { Handler } from '../types.ts'
import { CgiOutputError, CgiResponder, followLocalRedirects, type CgiOutcome } from './output.ts'

export interface CgiProgramOptions {
  /** Arguments passed to the program on every request. */
  args?: string[]
  /** Milliseconds a request may take, waiting for a free slot included. Default 60 000. */
  timeout?: number
  /** Most programs running at once; further requests wait. Default 16. */
  maxProcesses?: number
  /** Working directory. Default: the program's directory (RFC 3875 7.2 says SHOULD), or the
   * server's when the program is found on PATH. */
  cwd?: string
}

export const CGI_DEFAULTS = { timeout: 60_000, maxProcesses: 16 } as const

/** Between SIGTERM and SIGKILL to the process group. */
const KILL_GRACE_MS = 1000

/** A Handler that runs `program` once per request. */
export function cgiHandler(program: string, options: CgiProgramOptions = {}): Handler {
  const onPath = !program.includes('/')
  const file = onPath ? program : resolve(program)
  const cwd = options.cwd ?? (onPath ? process.cwd() : dirname(file))
  const timeout = options.timeout ?? CGI_DEFAULTS.timeout
  const slots = new Slots(options.maxProcesses ?? CGI_DEFAULTS.maxProcesses)
  const args = options.args ?? []
  return async (req, res) => {
    const deadline = Date.now() + timeout
    const release = await slots.acquire(req.signal, timeout)
    if (!release) {
      if (!req.signal.aborted) fail(res, 504, `no free slot within ${timeout} ms (maxProcesses ${slots.size})`)
      return
    }
    try {
      await followLocalRedirects(programEnv(req.params, file), req.stdin, (env, body) =>
        runProgram({ file, args, cwd, env, body, req, res, deadline }),
      )
    } finally {
      release()
    }
  }
}

/** The request's params, less HTTP_PROXY (a client's `Proxy:` header must not become the
 * program's proxy: httpoxy), plus PATH (the server's) and SCRIPT_FILENAME when absent. */
export function programEnv(params: Record<string, string>, file: string): Record<string, string> {
  const env: Record<string, string> = { ...params }
  delete env.HTTP_PROXY
  env.GATEWAY_INTERFACE ??= 'CGI/1.1'
  env.PATH ??= process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'
  env.SCRIPT_FILENAME ??= file
  return env
}

interface Run {
  file: string
  args: string[]
  cwd: string
  env: Record<string, string>
  body: AsyncIterable<Buffer>
  req: FcgiRequest
  res: FcgiResponse
  deadline: number
}

async function runProgram({ file, args, cwd, env, body, req, res, deadline }: Run): Promise<CgiOutcome> {
  // detached: the program leads its own process group, so what it starts dies with it
  const child = spawn(file, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((done) => {
    child.once('error', (error) => done({ code: null, signal: null, error }))
    child.once('exit', (code, signal) => done({ code, signal }))
  })
  let killed: 'timeout' | 'abort' | 'bad output' | null = null
  let graceTimer: NodeJS.Timeout | undefined
  const killGroup = (why: NonNullable<typeof killed>) => {
    killed ??= why
    signalGroup(child.pid, 'SIGTERM')
    graceTimer ??= setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS)
  }
  const timer = setTimeout(() => killGroup('timeout'), Math.max(0, deadline - Date.now()))
  const onAbort = () => killGroup('abort')
  req.signal.addEventListener('abort', onAbort, { once: true })
  child.stderr.on('data', (chunk: Buffer) => res.stderr(chunk))
  void pump(body, child.stdin)

  const responder = new CgiResponder(res)
  let outputError: unknown = null
  try {
    for await (const chunk of child.stdout) await responder.write(chunk as Buffer)
  } catch (err) {
    outputError = err
    killGroup('bad output')
  }
  const exit = await exited
  clearTimeout(timer)
  req.signal.removeEventListener('abort', onAbort)
  // the group may outlive its leader (a background job holding no pipe): end it with the request
  if (killed) signalGroup(child.pid, 'SIGKILL')
  clearTimeout(graceTimer)

  const name = file.split('/').pop()
  if (exit.error) return fail(res, 502, `could not start ${file}: ${exit.error.message}`)
  if (killed === 'abort' || req.signal.aborted) return { kind: 'response' } // nobody is listening
  if (killed === 'timeout') {
    if (res.headersSent) throw new Error(`${file} timed out after the response head was sent`)
    return fail(res, 504, `${name} did not finish within its timeout; its process group was killed`)
  }
  if (outputError) {
    if (res.headersSent) throw outputError
    return fail(res, 502, `${name} printed no valid CGI header: ${(outputError as Error).message}`)
  }
  const how = exit.code !== null ? `exited with status ${exit.code}` : `was killed by ${exit.signal}`
  let outcome: CgiOutcome
  try {
    outcome = responder.end()
  } catch (err) {
    if (!(err instanceof CgiOutputError)) throw err
    return fail(res, 502, `${name} ${how} and printed no valid CGI header: ${err.message}`)
  }
  if (exit.code !== 0) {
    // a complete head and body came out: the program's status is a note for the log, not the client's problem
    if (outcome.kind === 'response') res.stderr(`fcgi cgi: ${name} ${how} after printing its response\n`)
    else return fail(res, 502, `${name} ${how} after asking for a local redirect`)
  }
  return outcome
}

/** A short 502/504 answer; the reason also goes to the front end's error log (FCGI_STDERR). */
function fail(res: FcgiResponse, status: 502 | 504, reason: string): CgiOutcome {
  res.stderr(`fcgi cgi: ${reason}\n`)
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
  res.end(`${status === 502 ? 'Bad Gateway' : 'Gateway Timeout'}: ${reason.replace(/^could not start \S+/, 'could not start the CGI program')}\n`)
  return { kind: 'response' }
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, sig)
  } catch {
    // ESRCH: the group is gone already
  }
}

/** The request body into the program's stdin, with backpressure. A program that does not read
 * its body closes the pipe (EPIPE): the rest is left to the engine to discard. */
async function pump(body: AsyncIterable<Buffer>, stdin: Writable): Promise<void> {
  stdin.on('error', () => {})
  try {
    for await (const chunk of body) {
      if (stdin.destroyed) return
      if (!stdin.write(chunk)) {
        await new Promise<void>((r) => {
          stdin.once('drain', r)
          stdin.once('close', r)
        })
      }
    }
  } catch {
    // the request was aborted; the program is killed by the abort handler
  } finally {
    stdin.end()
  }
}

/** A counting semaphore whose waiters give up on abort or after a time. */
class Slots {
  private free: number
  private readonly waiters: (() => void)[] = []

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError(`maxProcesses must be an integer >= 1, got ${size}`)
    this.free = size
  }

  /** A release function, or null when the signal aborted or `timeout` ms passed first. */
  acquire(signal: AbortSignal, timeout: number): Promise<(() => void) | null> {
    if (signal.aborted) return Promise.resolve(null)
    if (this.free > 0) {
      this.free--
      return Promise.resolve(this.releaser())
    }
    return new Promise((resolveSlot) => {
      const give = () => {
        cleanup()
        resolveSlot(this.releaser())
      }
      const giveUp = () => {
        cleanup()
        resolveSlot(null)
      }
      const timer = setTimeout(giveUp, timeout)
      const cleanup = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', giveUp)
        const i = this.waiters.indexOf(give)
        if (i >= 0) this.waiters.splice(i, 1)
      }
      signal.addEventListener('abort', giveUp, { once: true })
      this.waiters.push(give)
    })
  }

  private releaser(): () => void {
    let done = false
    return () => {
      if (done) return
      done = true
      const next = this.waiters.shift()
      if (next) next()
      else this.free++
    }
  }
}
