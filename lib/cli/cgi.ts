// `fcgi cgi [options] <program> [args…]`: a CGI executable served over FastCGI, one process per
// request (what fcgiwrap does). Options come before the program; everything after it is the
// program's own arguments.
import { accessSync, constants } from 'node:fs'
import { parseArgs } from 'node:util'
import { CGI_DEFAULTS, cgiHandler } from '../cgi/program.ts'
import { help, HELP_OPTION, numberOption, parseCommandArgs, UsageError, type Command } from './command.ts'
import { LISTEN_OPTIONS, LISTEN_USAGE, runUntilStopped, startServers } from './serve.ts'

const OPTIONS = {
  ...LISTEN_OPTIONS,
  timeout: { type: 'string' },
  'max-processes': { type: 'string' },
  ...HELP_OPTION,
} as const

export const cgiCommand: Command = {
  name: 'cgi',
  summary: 'serve a CGI program over FastCGI, one process per request (like fcgiwrap)',
  usage: `usage: fcgi cgi [options] <program> [args…]
  Runs <program> for every request with the CGI environment (RFC 3875), the body on its stdin;
  its stdout is the response (Status:, Location:, headers, blank line, body), its stderr goes to
  the front end's error log (FCGI_STDERR). Its working directory is its own directory.
  --timeout <seconds>   per request, waiting for a slot included (default ${CGI_DEFAULTS.timeout / 1000}); then the
                        process group is killed and the answer is 504 (or the stream is cut)
  --max-processes <n>   programs running at once; more requests wait (default ${CGI_DEFAULTS.maxProcesses})
  A program that exits non-zero or prints no valid header before its body gets a 502; an
  aborted request kills its process group (SIGTERM, SIGKILL 1 s later).
${LISTEN_USAGE}`,
  async run(args) {
    const split = programIndex(args)
    const { values, positionals } = parseCommandArgs(args.slice(0, split), OPTIONS)
    if (values.help) return help(this)
    if (positionals.length > 0 || split >= args.length) throw new UsageError('cgi takes a program (and its arguments) after the options')
    const [program, ...programArgs] = args.slice(split)
    if (program.includes('/')) {
      try {
        accessSync(program, constants.X_OK)
      } catch {
        throw new UsageError(`${program} is not an executable file`)
      }
    }
    const handler = cgiHandler(program, {
      args: programArgs,
      timeout: numberOption('timeout', values.timeout, CGI_DEFAULTS.timeout / 1000, 0.001, true) * 1000,
      maxProcesses: numberOption('max-processes', values['max-processes'], CGI_DEFAULTS.maxProcesses, 1),
    })
    return runUntilStopped(await startServers(program, { handler }, values))
  },
}

/** Where the program starts: the first positional (or what follows `--`), found with a lenient
 * parse that knows which options take a value. */
function programIndex(args: string[]): number {
  const { tokens } = parseArgs({ args, options: OPTIONS, strict: false, allowPositionals: true, tokens: true })
  for (const t of tokens) {
    if (t.kind === 'positional') return t.index
    if (t.kind === 'option-terminator') return t.index + 1
  }
  return args.length
}
