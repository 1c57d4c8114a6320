// End to end through a real nginx from Debian on loopback: per-request connections; upstream
// keepalive + fastcgi_keep_conn on; the same with fastcgi_request_buffering off; an upstream of
// two back ends with failover. Both engines, unix socket and TCP; the cases are in cases.ts.
import assert from 'node:assert/strict'
import type { EngineName } from 'fcgi'
import { declareFrontEnd, httpTarget, type Case, type Limitation, type SuiteSpec } from './cases.ts'
import { missing, sleep, version, waitFor } from './harness.ts'
import { startNginx } from './nginx.ts'

const skip = missing('nginx')
const UPSTREAM_ERRORS = /upstream prematurely closed|recv\(\) failed|reset by peer|broken pipe|upstream sent|readv\(\) failed|writev\(\) failed|upstream timed out/

const failover: Case = {
  name: 'failover',
  title: 'one of two back ends stops: every request is served by the other; it rejoins after restart',
  async run({ target, backends }) {
    const served = async (n: number) => {
      const names: string[] = []
      for (let i = 0; i < n; i++) {
        const r = await target.request('/params', { timeoutMs: 5000 })
        assert.equal(r.status, 200, `request ${i}: ${r.status}`)
        names.push(JSON.parse(r.body.toString()).backend)
      }
      return names
    }
    assert.deepEqual(new Set(await served(6)), new Set(['b1', 'b2']), 'round robin over both')
    await backends[1].kill()
    assert.deepEqual(new Set(await served(10)), new Set(['b1']))
    await backends[1].restart()
    await sleep(2100) // fail_timeout=1s, counted in whole seconds
    assert.deepEqual(new Set(await served(6)), new Set(['b1', 'b2']), 'b2 serves again')
  },
}

// Both servers of the group failed (max_fails=1): nginx does not try them again before
// fail_timeout, even once they are back. A single-server upstream ignores max_fails.
const noLiveUpstreams: Limitation = {
  note: "an upstream group whose servers all failed answers 502 'no live upstreams' until fail_timeout passes, even after they are back",
  async check(ctx) {
    await ctx.kill()
    for (let i = 0; i < 3; i++) {
      const r = await ctx.target.request('/params', { timeoutMs: 10_000 })
      assert.ok(r.status === 502 && r.ms < 3000, `while down: ${r.status} after ${r.ms} ms`)
    }
    await ctx.restart()
    const first = await ctx.target.request('/params')
    assert.equal(first.status, 502, 'right after the restart')
    assert.match(ctx.target.errorLog(), /no live upstreams/)
    const t0 = Date.now()
    await waitFor('a 200 once fail_timeout (1 s) passed', async () => (await ctx.target.request('/params')).status === 200, 3000, 100)
    assert.ok(Date.now() - t0 <= 3000)
  },
}

function suites(engine: EngineName): SuiteSpec[] {
  const out: SuiteSpec[] = []
  for (const transport of ['unix', 'tcp'] as const) {
    const common = { frontEnd: 'nginx', transport, engine, upstreamErrors: UPSTREAM_ERRORS, answersBeforeBodyEnds: false }
    out.push({
      ...common,
      mode: 'per-request connections',
      connections: 'per-request',
      start: async ([b]) => {
        const fe = await startNginx({ backend: b.address, keepConn: false })
        return { target: httpTarget(fe), stop: () => fe.stop() }
      },
    })
    out.push({
      ...common,
      mode: 'keepalive + fastcgi_keep_conn on',
      connections: 'reuse',
      start: async ([b]) => {
        const fe = await startNginx({ backend: b.address, keepConn: true })
        return { target: httpTarget(fe), stop: () => fe.stop() }
      },
    })
    out.push({
      ...common,
      mode: 'keep_conn on + fastcgi_request_buffering off',
      connections: 'reuse',
      answersBeforeBodyEnds: true,
      start: async ([b]) => {
        const fe = await startNginx({ backend: b.address, keepConn: true, requestBuffering: false })
        return { target: httpTarget(fe), stop: () => fe.stop() }
      },
    })
    out.push({
      ...common,
      mode: 'upstream of two, failover',
      backends: 2,
      connections: 'reuse',
      extra: [failover],
      limits: { restart: noLiveUpstreams },
      start: async (bs) => {
        const fe = await startNginx({ backends: bs.map((b) => b.address), keepConn: true })
        return { target: httpTarget(fe), stop: () => fe.stop() }
      },
    })
  }
  return out
}

declareFrontEnd({ frontEnd: 'nginx', version: skip ? 'not installed' : version('nginx', ['-v'], /nginx\/[\d.]+/), skip, suites })
