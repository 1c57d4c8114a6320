// End to end through a real nginx from Debian on loopback: per-request connections; upstream
// keepalive + fastcgi_keep_conn on; the same with fastcgi_request_buffering off; an upstream of
// two back ends with failover. Both engines, unix socket and TCP; the cases are in cases.ts.
import assert from 'node:assert/strict'
import type { EngineName } from 'fcgi'
import { declareFrontEnd, httpTarget, pattern, type Case, type Limitation, type SuiteSpec } from './cases.ts'
import { http, missing, sleep, version, waitFor } from './harness.ts'
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

// nginx is not full duplex: once it has passed the response head on, it stops sending the request
// body (its upstream write handler is a no-op unless `preserve_output`, which only gRPC sets). A
// handler that streams its answer while the body arrives (an echo of more than the socket buffers
// hold) stalls both ways until
// fastcgi_read_timeout, then nginx cuts the response. Asserted with its own nginx (read timeout
// 2 s) on the suite's back end; the README says what to do instead (read the body first).
const READ_TIMEOUT_MS = 2000
function fullDuplexLimit(requestBuffering: boolean): Case {
  return {
    name: 'full-duplex',
    title: `limit: a handler that streams its answer while a 64 MiB body arrives stalls until fastcgi_read_timeout, then nginx cuts it; reading the body first works`,
    async run({ backend }) {
      const fe = await startNginx({ backend: backend.address, keepConn: true, requestBuffering, readTimeout: `${READ_TIMEOUT_MS / 1000}s` })
      try {
        // more than the loopback socket buffers hold both ways (TCP autotunes to a few MiB), so that
        // nginx cannot have written it all before the handler's first answer bytes arrive
        const body = pattern(64 * 1024 * 1024, 3)
        const t0 = Date.now()
        const outcome = await http(fe.port, '/stream-echo', { method: 'POST', body, timeoutMs: 20_000 }).then(
          (r) => `status ${r.status}, ${r.body.length} bytes`,
          (err: Error) => `cut: ${err.message}`,
        )
        const ms = Date.now() - t0
        assert.ok(outcome !== `status 200, ${body.length} bytes`, 'nginx streamed both ways: the limit is gone, update README and this case')
        assert.ok(ms >= READ_TIMEOUT_MS - 100 && ms < READ_TIMEOUT_MS + 5000, `${outcome} after ${ms} ms (fastcgi_read_timeout ${READ_TIMEOUT_MS} ms)`)
        await waitFor('upstream timed out in the log', () => /upstream timed out .*stream-echo/.test(fe.errorLog()), 3000)
        // the same body to a handler that reads it first, then answers: whole, at once
        const echo = await http(fe.port, '/echo', { method: 'POST', body, timeoutMs: 20_000 })
        assert.equal(echo.status, 200)
        assert.ok(echo.body.equals(body), 'the echo after reading the body is exact')
      } finally {
        await fe.stop()
      }
    },
  }
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
      extra: [fullDuplexLimit(true)],
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
      extra: [fullDuplexLimit(false)],
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
