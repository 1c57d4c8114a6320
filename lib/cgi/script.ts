// `fastcgi(script)`: the original Python library's decorator as a function. The script reads the
// CGI environment and stdin and writes raw CGI output to stdout; this turns it into a Handler
// (for serveFcgi, serveHttp and `fcgi serve`) and, when its file is the program node was started
// with, serves it on ./fcgi.sock at once.
import { Readable, Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { FcgiRequest } from '../request.ts'
import type { FcgiResponse } from '../response.ts'
import type { Handler } from '../types.ts'
import { CgiResponder, followLocalRedirects, type CgiOutcome } from './output.ts'

/** The request body: a Readable (pipe it anywhere) that can also be read whole. */
export interface CgiStdin extends Readable {
  bytes(): Promise<Buffer>
  text(): Promise<string>
  json(): Promise<unknown>
}

export interface CgiScriptContext {
  /** The CGI environment: the request's params (FastCGI) or the synthesized meta-variables (HTTP). */
  env: Record<string, string>
  stdin: CgiStdin
  /** Raw CGI output: header lines, a blank line, then the body (streamed as written). */
  stdout: Writable
  /** Goes to FCGI_STDERR (the front end's error log); over HTTP, to the server's log. */
  stderr: Writable
  /** Aborted when the client or the front end gives up on the request. */
  signal: AbortSignal
}

export type CgiScript = (ctx: CgiScriptContext) => unknown

/** A Handler that runs `script` once per request, following local redirects (RFC 3875 6.2.2)
 * by running it again for the new path. */
export function scriptHandler(script: CgiScript): Handler {
  return (req, res) => followLocalRedirects(req.params, req.stdin, (env, body) => runOnce(script, { env, body, req, res }))
}

interface Run {
  env: Record<string, string>
  body: AsyncIterable<Buffer>
  req: FcgiRequest
  res: FcgiResponse
}

async function runOnce(script: CgiScript, { env, body, req, res }: Run): Promise<CgiOutcome> {
  const responder = new CgiResponder(res)
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      responder.write(chunk).then(() => callback(), callback)
    },
  })
  let failure: unknown = null
  stdout.on('error', (err) => (failure ??= err))
  // made on first use: most scripts never touch stderr or the signal, many not stdin
  let stdin: CgiStdin | undefined
  let stderr: Writable | undefined
  const ctx: CgiScriptContext = {
    env,
    stdout,
    get signal() {
      return req.signal // a getter: engines make the AbortController only when asked
    },
    get stdin() {
      return (stdin ??= stdinOf(body))
    },
    get stderr() {
      return (stderr ??= stderrOf(res))
    },
  }
  try {
    await script(ctx)
  } catch (err) {
    stdout.destroy()
    throw err
  }
  if (!stdout.writableEnded) stdout.end()
  await finished(stdout).catch((err: unknown) => (failure ??= err))
  if (failure) throw failure
  return responder.end()
}

function stderrOf(res: FcgiResponse): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      res.stderr(chunk)
      callback()
    },
  })
}

function stdinOf(body: AsyncIterable<Buffer>): CgiStdin {
  const stream = Readable.from(body, { objectMode: false }) as CgiStdin
  stream.bytes = async () => {
    const parts: Buffer[] = []
    for await (const chunk of stream) parts.push(chunk as Buffer)
    return Buffer.concat(parts)
  }
  stream.text = async () => (await stream.bytes()).toString('utf8')
  stream.json = async () => JSON.parse(await stream.text())
  return stream
}
