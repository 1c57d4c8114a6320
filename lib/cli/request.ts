// `fcgi request <address> <path>`: one FastCGI request, the response printed like curl -i.
import { readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { FcgiClient } from '../client.ts'
import { help, HELP_OPTION, parseCommandArgs, UsageError, type Command } from './command.ts'

export const requestCommand: Command = {
  name: 'request',
  summary: 'send one FastCGI request and print the response like curl -i (a cgi-fcgi)',
  usage: `usage: fcgi request <address> <path> [options]
  <address>: a unix path, a port or host:port; <path>: REQUEST_URI (path and query)
  -X <method>           request method (default GET, POST with -d)
  -d <body|@file>       request body, or @file to send a file
  -H 'Name: value'      a request header (repeatable)
  The exit code is 0 when the application ended the request with status 0, else 1.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, {
      method: { type: 'string', short: 'X' },
      data: { type: 'string', short: 'd' },
      header: { type: 'string', short: 'H', multiple: true },
      ...HELP_OPTION,
    })
    if (values.help) return help(this)
    if (positionals.length !== 2) throw new UsageError('request takes <address> <path>')
    const [address, path] = positionals
    const headers: Record<string, string> = {}
    for (const h of values.header ?? []) {
      const colon = h.indexOf(':')
      if (colon <= 0) throw new UsageError(`bad header ${JSON.stringify(h)}: use 'Name: value'`)
      headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim()
    }
    const d = values.data
    const body = d === undefined ? undefined : d.startsWith('@') ? readFileSync(d.slice(1)) : Buffer.from(d)
    const client = new FcgiClient(address, { keepConn: false })
    try {
      const res = await client.stream({ method: values.method, path, headers, body })
      let head = `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`.trimEnd() + '\r\n'
      for (const [name, value] of res.rawHeaders) head += `${name}: ${value}\r\n`
      process.stdout.write(head + '\r\n')
      for await (const chunk of res.body) {
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r))
      }
      const end = await res.end
      if (end.stderr) process.stderr.write(end.stderr)
      return end.appStatus === 0 && end.protocolStatus === 0 ? 0 : 1
    } finally {
      client.close()
    }
  },
}
