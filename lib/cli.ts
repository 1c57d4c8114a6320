// The `fcgi` command: a small dispatcher over one file per subcommand in ./cli/.
import { readFileSync } from 'node:fs'
import { cgiCommand } from './cli/cgi.ts'
import { UsageError, type Command } from './cli/command.ts'
import { devCommand } from './cli/dev.ts'
import { requestCommand } from './cli/request.ts'
import { serveCommand } from './cli/serve.ts'

export const COMMANDS: Command[] = [serveCommand, requestCommand, cgiCommand, devCommand]

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `usage: fcgi <command> [options]   (fcgi <command> --help for its options)
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  fcgi --version`
}

function version(): string {
  // package.json sits one level above this file, in the source tree and in a build alike
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`)
    return 0
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    process.stderr.write(`${name === undefined ? '' : `fcgi: unknown command ${JSON.stringify(name)}\n`}${usage()}\n`)
    return 2
  }
  try {
    return await command.run(rest)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`fcgi ${command.name}: ${err.message}\n(see fcgi ${command.name} --help)\n`)
    return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: Error) => {
    process.stderr.write(`fcgi: ${err.message}\n`)
    process.exitCode = 2
  },
)
