// End to end through a real lighttpd 1.4 from Debian on loopback (mod_fastcgi): a responder on
// our socket; our server as "mode" => "authorizer" in front of it; and `bin-path`, where
// lighttpd spawns `fcgi serve <module> --listen fd:0` itself. Both engines, unix socket and TCP.
import assert from 'node:assert/strict'
import type { EngineName } from 'fcgi'
import { abortNotPassedOn, authorizerCases, declareFrontEnd, httpTarget, show, type Case, type Limitation, type SuiteSpec } from './cases.ts'
import { missing, version, waitFor } from './harness.ts'
import { cliCommand, startLighttpd, type Lighttpd } from './lighttpd.ts'

const skip = missing('lighttpd')
const UPSTREAM_ERRORS = /gw_backend\.c|mod_fastcgi\.c.*(error|unexpected)/

const noAbort = abortNotPassedOn(
  'lighttpd does not pass on a client that leaves before the response starts: the back-end connection stays open, req.signal does not fire, the handler runs to completion',
)

// After a refused connect lighttpd disables the back end and re-enables it from its once-a-second
// timer ("disable-time", default 1 s; even 0 only shortens it to the next tick).
const disabled: Limitation = {
  note: 'after a refused connect lighttpd disables the back end until its once-a-second check ("disable-time", default 1 s): 503 for 1-3 s after the back end is back',
  async check(ctx) {
    await ctx.kill()
    for (let i = 0; i < 3; i++) {
      const r = await ctx.target.request('/params', { timeoutMs: 10_000 })
      assert.ok(r.status === 503 && r.ms < 3000, `while down: ${r.status} after ${r.ms} ms`)
    }
    await ctx.restart()
    const first = await ctx.target.request('/params')
    assert.equal(first.status, 503, 'right after the restart')
    assert.match(ctx.target.errorLog(), /all handlers for .* are down/)
    await waitFor('a 200 once lighttpd re-enabled the back end', async () => {
      const r = await ctx.target.request('/params')
      assert.ok(r.status === 200 || r.status === 503, show(r))
      return r.status === 200
    }, 4000, 100)
  },
}

function suites(engine: EngineName): SuiteSpec[] {
  const out: SuiteSpec[] = []
  for (const transport of ['unix', 'tcp'] as const) {
    const common = { frontEnd: 'lighttpd', transport, engine, upstreamErrors: UPSTREAM_ERRORS, answersBeforeBodyEnds: false }
    out.push({
      ...common,
      mode: 'mod_fastcgi responder',
      connections: 'per-request',
      limits: { 'client-abort': noAbort, restart: disabled },
      start: async ([b]) => {
        const fe = await startLighttpd({ backend: b.address })
        return { target: httpTarget(fe), stop: () => fe.stop() }
      },
    })
    let auth: Lighttpd | null = null
    out.push({
      ...common,
      mode: 'mod_fastcgi authorizer + responder',
      connections: 'per-request',
      connectionsPerRequest: 2,
      limits: { 'client-abort': noAbort, restart: disabled },
      extra: authorizerCases({
        raw: () => httpTarget(auth!, { prefix: '/protected' }),
        userParam: 'USER',
        levelParam: 'AUTH_LEVEL',
        authorizerTransport: transport,
        startWithAuthorizer: (address, b) => startLighttpd({ backend: b.address, authorizer: true, authorizerAddress: address }),
      }),
      start: async ([b]) => {
        auth = await startLighttpd({ backend: b.address, authorizer: true })
        const fe = auth
        return { target: httpTarget(fe, { prefix: '/protected', headers: { 'X-Auth': 'alice' } }), stop: () => fe.stop() }
      },
    })
    let spawner: Lighttpd | null = null
    const respawn: Case = {
      name: 'restart',
      title: 'the spawned back end killed (SIGKILL): lighttpd respawns it; answers stay fast 5xx until it is back',
      async run({ target }) {
        const before = spawner!.spawned()
        assert.equal(before.length, 1, `spawned back ends: ${before}`)
        process.kill(before[0], 'SIGKILL')
        const t0 = Date.now()
        await waitFor(
          'a 200 from the respawned back end',
          async () => {
            const r = await target.request('/params', { timeoutMs: 5000 })
            assert.ok(r.ms < 3000, `answer took ${r.ms} ms`)
            assert.ok(r.status === 200 || r.status >= 500, show(r))
            return r.status === 200
          },
          8000,
          100,
        )
        const after = spawner!.spawned()
        assert.ok(after.length === 1 && after[0] !== before[0], `respawned: ${before} -> ${after} after ${Date.now() - t0} ms`)
      },
    }
    out.push({
      ...common,
      mode: 'bin-path (lighttpd spawns fcgi serve --listen fd:0)',
      backends: 0,
      connections: 'unknown',
      limits: { 'client-abort': noAbort },
      replace: { restart: respawn },
      start: async () => {
        spawner = await startLighttpd({ binPath: { command: cliCommand(engine), transport } })
        const fe = spawner
        // the spawned node process needs a moment to load the app before it accepts
        await waitFor('the spawned back end to answer', async () => (await httpTarget(fe).request('/params', { timeoutMs: 5000 })).status === 200, 15_000, 100)
        return { target: httpTarget(fe), stop: () => fe.stop() }
      },
    })
  }
  return out
}

declareFrontEnd({ frontEnd: 'lighttpd', version: skip ? 'not installed' : version('lighttpd', ['-v'], /lighttpd\/[\d.]+/), skip, suites })
