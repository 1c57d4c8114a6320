// What every `fcgi` subcommand is: a name, a one-line summary for `fcgi --help`, its own usage
// text for `fcgi <command> --help`, and a run function returning the exit code.
import { parseArgs, type ParseArgsConfig } from 'node:util'

export interface Command {
  name: string
  summary: string
  usage: string
  run(args: string[]): Promise<number>
}

/** `fcgi <command> --help`: the command's usage on stdout, exit code 0. */
export function help(command: Command): number {
  process.stdout.write(`${command.usage}\n`)
  return 0
}

/** A mistake on the command line: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>>

/** node:util parseArgs, strict, with parse errors turned into UsageErrors. */
export function parseCommandArgs<O extends Options>(args: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** A number option: an integer (or a decimal when `decimals`) not below `min`. */
export function numberOption(name: string, value: string | undefined, fallback: number, min: number, decimals = false): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === '' || Number.isNaN(n) || n < min || (!decimals && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${decimals ? 'a number' : 'an integer'} >= ${min}, got ${JSON.stringify(value)}`)
  }
  return n
}
