// `cgi-fcgi -bind -connect` from libfcgi-bin as a plain FastCGI client (one process, one
// connection, one request per run), against both engines on a unix socket and TCP.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import type { EngineName } from 'fcgi'
import { declareFrontEnd, pattern, show, type Limitation, type SuiteSpec } from './cases.ts'
import { cgiFcgiTarget } from './cgi-fcgi.ts'
import { missing } from './harness.ts'

const skip = missing('cgi-fcgi')

// cgi-fcgi forwards exactly CONTENT_LENGTH bytes of its stdin (none when it is unset): a body
// of unknown length (what a chunked upload is to a CGI program) never reaches the application.
const noLengthNoBody: Limitation = {
  note: 'cgi-fcgi sends exactly CONTENT_LENGTH bytes of stdin: without CONTENT_LENGTH (a chunked upload) the body is not sent at all',
  async check({ target }) {
    const r = await target.request('/echo', { method: 'POST', body: pattern(2 * 1024 * 1024), bodyMode: 'chunked' })
    assert.equal(r.status, 200, show(r))
    assert.equal(r.headers['x-length'], '0')
    assert.equal(r.body.length, 0)
  },
}

function suites(engine: EngineName): SuiteSpec[] {
  return (['unix', 'tcp'] as const).map((transport) => ({
    frontEnd: 'cgi-fcgi',
    mode: 'cgi-fcgi -bind -connect',
    transport,
    engine,
    connections: 'per-request',
    answersBeforeBodyEnds: true,
    limits: { chunked: noLengthNoBody },
    start: async ([b]) => ({ target: cgiFcgiTarget(b.address), stop: async () => {} }),
  }))
}

// cgi-fcgi has no version option: the Debian package's
function packageVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libfcgi-bin'], { encoding: 'utf8' })
  return r.status === 0 && r.stdout ? `libfcgi-bin ${r.stdout.split('-')[0]}` : 'libfcgi-bin'
}

declareFrontEnd({ frontEnd: 'cgi-fcgi', version: skip ? 'not installed' : packageVersion(), skip, suites })
