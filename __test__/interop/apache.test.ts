// End to end through a real Apache httpd 2.4 from Debian on loopback: mod_proxy_fcgi with a new
// connection per request and with enablereuse=on, and mod_authnz_fcgi running our server as a
// FastCGI Authorizer in front of the responder. Both engines; the cases are in cases.ts.
import assert from 'node:assert/strict'
import type { EngineName } from 'fcgi'
import { APACHE_MODULES, apacheBinary, startApache } from './apache.ts'
import { abortNotPassedOn, authorizerCases, declareFrontEnd, httpTarget, type Limitation, type SuiteSpec } from './cases.ts'
import { missing, missingFile, version, type FrontEnd } from './harness.ts'

const skip = missing('apache2') ?? missingFile(`${APACHE_MODULES}/mod_proxy_fcgi.so`, `Apache modules not found in ${APACHE_MODULES}`)
const UPSTREAM_ERRORS = /\[proxy(_fcgi)?:error\]/

const noAbort = abortNotPassedOn(
  'mod_proxy_fcgi does not watch the client while it waits for the response: a client that gives up is not passed on, req.signal does not fire, the handler runs to completion',
)
// mod_authnz_fcgi keeps the 200 answer's other headers in the response (only Variable-* are moved)
const authHeaders: Limitation = {
  note: "mod_authnz_fcgi passes an authorizing (200) answer's other headers on to the client (the FastCGI spec says they are ignored)",
  async check({ target }) {
    const r = await target.request('/secret')
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-authorizer-only'], 'yes')
  },
}
function suites(engine: EngineName): SuiteSpec[] {
  const out: SuiteSpec[] = []
  for (const transport of ['unix', 'tcp'] as const) {
    for (const reuse of [false, true]) {
      out.push({
        frontEnd: 'apache',
        mode: reuse ? 'mod_proxy_fcgi enablereuse=on' : 'mod_proxy_fcgi',
        transport,
        engine,
        connections: reuse ? 'reuse' : 'per-request',
        // observed: the back end's answer usually reaches the client only once the whole body was
        // sent, but mod_proxy_fcgi polls both sides and in CI runs it passed the native engine's
        // answer on while the client was still sending (unix and TCP): timing decides
        answersBeforeBodyEnds: 'either',
        limits: { 'client-abort': noAbort },
        upstreamErrors: UPSTREAM_ERRORS,
        start: async ([b]) => {
          const fe = await startApache({ backend: b.address, reuse })
          return { target: httpTarget(fe), stop: () => fe.stop() }
        },
      })
    }
  }
  // mod_authnz_fcgi connects to fcgi://host:port only: no unix-socket variant exists.
  let fe: FrontEnd | null = null
  out.push({
    frontEnd: 'apache',
    mode: 'mod_authnz_fcgi authorizer + mod_proxy_fcgi',
    transport: 'tcp',
    engine,
    connections: 'per-request',
    connectionsPerRequest: 2,
    answersBeforeBodyEnds: 'either', // mod_proxy_fcgi, as above: timing decides (seen early on js)
    limits: { 'client-abort': noAbort, 'auth-headers': authHeaders },
    upstreamErrors: UPSTREAM_ERRORS,
    extra: authorizerCases({
      raw: () => httpTarget(fe!, { prefix: '/protected' }),
      userParam: 'User',
      levelParam: 'Auth-Level',
      authorizerTransport: 'tcp',
      startWithAuthorizer: (address, b) => startApache({ backend: b.address, reuse: false, authorizer: address }),
    }),
    start: async ([b]) => {
      fe = await startApache({ backend: b.address, reuse: false, authorizer: b.address })
      const f = fe
      return { target: httpTarget(f, { prefix: '/protected', headers: { 'X-Auth': 'alice' } }), stop: () => f.stop() }
    },
  })
  return out
}

declareFrontEnd({ frontEnd: 'apache', version: skip ? 'not installed' : version(apacheBinary()!, ['-v'], /Apache\/[\d.]+/), skip, suites })
