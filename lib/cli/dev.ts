// `fcgi dev <module>`: the app over FastCGI on a private unix socket, a local HTTP front end that
// speaks real FastCGI to it, and a restart whenever a file under the module's directory changes.
import { watch } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { describeAddress } from '../address.ts'
import { AppProcess } from '../dev/app-process.ts'
import { createFrontEnd } from '../dev/front-end.ts'
import { untilStopSignal } from '../stop-signals.ts'
import { help, HELP_OPTION, numberOption, parseCommandArgs, UsageError, type Command } from './command.ts'

/** Changes closer together than this are one restart (an editor's save is several events). */
const DEBOUNCE_MS = 150
/** Paths under the watched directory that never restart the app. */
const IGNORED = /(^|\/)(node_modules|\.git)(\/|$)|(^|\/)\.#|~$|\.swp$/

export const devCommand: Command = {
  name: 'dev',
  summary: 'run a module with a local HTTP front end over real FastCGI; restart on changes',
  usage: `usage: fcgi dev <module> [options]
  Runs the module (as fcgi serve does) on a private unix socket and a small HTTP server that
  talks to it over FastCGI, so the browser sees the FastCGI path. Restarts the app when a file
  under the module's directory changes (node_modules and .git ignored).
  --port, -p <port>     HTTP port (default 8080; 0 picks a free one)
  --host <addr>         HTTP address (default 127.0.0.1)
  --engine <name>       auto (default), native or js`,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      engine: { type: 'string' },
      ...HELP_OPTION,
    })
    if (values.help) return help(this)
    if (positionals.length !== 1) throw new UsageError('dev takes exactly one module')
    const module = resolve(positionals[0])
    const port = numberOption('port', values.port, 8080, 0)
    const log = (line: string) => process.stderr.write(`fcgi dev: ${line}\n`)
    const dir = mkdtempSync(join(tmpdir(), 'fcgi-dev-'))
    // this CLI again, the way it was started (node, its flags, the fcgi script)
    const self = { file: process.execPath, args: [...process.execArgv, process.argv[1]] }
    const app = new AppProcess(self, module, join(dir, 'app.sock'), values.engine ?? 'auto')
    const front = createFrontEnd(() => app.current(), log)
    try {
      const first = await app.restart()
      await new Promise<void>((ok, fail) => {
        front.once('error', fail)
        front.listen(port, values.host ?? '127.0.0.1', ok)
      })
      const a = front.address() as { address: string; port: number }
      const url = `http://${describeAddress({ type: 'tcp', host: a.address, port: a.port })}/`
      log(`${url} → ${positionals[0]} over FastCGI${'engine' in first ? ` (engine ${first.engine})` : ` (not running: ${first.error})`}`)
      log(`watching ${dirname(module)} for changes`)
      const watcher = watchForRestart(dirname(module), async (file) => {
        log(`${file} changed: restarting`)
        const state = await app.restart()
        log('engine' in state ? `restarted (engine ${state.engine})` : `the app did not start: ${state.error}`)
      })
      const sig = await untilStopSignal()
      log(`${sig}: stopping`)
      watcher.close()
      const closed = new Promise((r) => front.close(r))
      front.closeAllConnections()
      await closed
    } finally {
      await app.stop()
      rmSync(dir, { recursive: true, force: true })
    }
    return 0
  },
}

/** fs.watch on the directory tree, debounced; restarts never overlap (a change during one
 * queues one more). */
function watchForRestart(dir: string, restart: (file: string) => Promise<void>): { close(): void } {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | null = null
  let again: string | null = null
  const run = (file: string) => {
    if (running) {
      again = file
      return
    }
    running = restart(file).finally(() => {
      running = null
      if (again !== null) {
        const next = again
        again = null
        run(next)
      }
    })
  }
  const watcher = watch(dir, { recursive: true }, (_event, filename) => {
    const file = filename?.toString() ?? ''
    if (IGNORED.test(file)) return
    clearTimeout(timer)
    timer = setTimeout(() => run(file || dir), DEBOUNCE_MS)
  })
  return {
    close() {
      clearTimeout(timer)
      watcher.close()
    },
  }
}
