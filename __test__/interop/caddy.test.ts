// End to end through a real Caddy 2 from Debian on loopback: reverse_proxy ... { transport
// fastcgi } to a unix socket and to TCP. Both engines; the cases are in cases.ts.
import assert from 'node:assert/strict'
import type { EngineName } from 'fcgi'
import { startCaddy } from './caddy.ts'
import { abortNotPassedOn, declareFrontEnd, httpTarget, show, type Limitation, type SuiteSpec } from './cases.ts'
import { missing, sleep, version } from './harness.ts'

const skip = missing('caddy')
const UPSTREAM_ERRORS = /"level":"error"/

// Caddy 2.6's FastCGI client reads FCGI_STDERR and throws it away (not even at DEBUG level).
const dropsStderr: Limitation = {
  note: 'Caddy 2.6 drops FCGI_STDERR: it appears in no log, not even at DEBUG level',
  async check({ target, uniq }) {
    const m = uniq('stderr')
    const r = await target.request(`/stderr?m=${m}`)
    assert.equal(r.status, 200, show(r))
    await sleep(500)
    assert.ok(target.errorLog().includes(`m=${m}`), 'the request itself is in the (DEBUG) log')
    assert.ok(!target.errorLog().includes(`stderr-marker-${m}`), 'the stderr text is not')
  },
}

// Caddy 2.6's FastCGI transport keeps the back-end connection open after the client left
// (checked with ss: still ESTABLISHED) and reads the response to its end.
const noAbort = abortNotPassedOn(
  'Caddy 2.6 keeps the FastCGI connection open when the client leaves: req.signal does not fire, the handler runs to completion',
)

function suites(engine: EngineName): SuiteSpec[] {
  return (['unix', 'tcp'] as const).map((transport) => ({
    frontEnd: 'caddy',
    mode: 'reverse_proxy transport fastcgi',
    transport,
    engine,
    connections: 'per-request',
    // Caddy writes the whole body before it reads any of the response
    answersBeforeBodyEnds: false,
    upstreamErrors: UPSTREAM_ERRORS,
    limits: { stderr: dropsStderr, 'client-abort': noAbort },
    start: async ([b]) => {
      const fe = await startCaddy({ backend: b.address })
      return { target: httpTarget(fe), stop: () => fe.stop() }
    },
  }))
}

declareFrontEnd({ frontEnd: 'caddy', version: skip ? 'not installed' : `Caddy ${version('caddy', ['version'], /v?[\d.]+/)}`, skip, suites })
