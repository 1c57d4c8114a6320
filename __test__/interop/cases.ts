// The cases every (front end × mode × transport × engine) suite runs, and the suite declaration
// that shares one front end + back end among them. A front end's own documented behaviour that
// differs from what a case wants is declared in the suite as a Limitation: the test then asserts
// that behaviour (so a front end that changes shows up) and the matrix says "limitation".
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { chmodSync } from 'node:fs'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'
import { serveFcgi } from 'fcgi'
import type { EngineName } from 'fcgi'
import { forEachEngine, nativeUnavailable } from '../helpers/engines.ts'
import { tempSocketPath } from '../helpers/server.ts'
import { BIG, makeApp, PROTECTED_MARKER } from './app.ts'
import { startBackend, type Backend, type Transport } from './backend.ts'
import { abandonedRequest, headThenGet, http, partialUpload, sleep, waitFor, type FrontEnd, type HttpOptions, type HttpResult, type RawResponse } from './harness.ts'
import { Matrix } from './matrix.ts'

/** How a suite reaches the app through its front end. */
export interface Target {
  request(path: string, o?: HttpOptions): Promise<HttpResult>
  /** HEAD then GET on one client connection (cgi-fcgi: two runs, there is no connection). */
  headThenGet(headPath: string, getPath: string): Promise<{ head: RawResponse; bytesAfterHead: number; get: RawResponse }>
  /** Start a request and return a function that gives up on it (closes the client side). */
  abandon(path: string): Promise<() => void>
  /** POST with a Content-Length, send only the first bytes, wait for an early answer (see harness). */
  partialUpload(path: string, o: { total: number; first: number; waitMs: number }): Promise<{ answeredEarly: boolean; status: number; body: Buffer }>
  errorLog(): string
}

/** A Target for an HTTP front end; `prefix`/`headers` route every request (e.g. through an authorizer). */
export function httpTarget(fe: FrontEnd, o: { prefix?: string; headers?: Record<string, string> } = {}): Target {
  const prefix = o.prefix ?? ''
  const base = o.headers ?? {}
  return {
    request: (path, opts = {}) => http(fe.port, prefix + path, { ...opts, headers: { ...base, ...opts.headers } }),
    headThenGet: (h, g) => headThenGet(fe.port, prefix + h, prefix + g, base),
    abandon: (path) => abandonedRequest(fe.port, prefix + path, base),
    partialUpload: (path, p) => partialUpload(fe.port, prefix + path, { ...p, headers: base }),
    errorLog: () => fe.errorLog(),
  }
}

export interface Ctx {
  spec: SuiteSpec
  target: Target
  backends: Backend[]
  /** the first back end */
  backend: Backend
  uniq(what: string): string
  /** kill the back end(s) as a crash would; `restart` brings them back (the lighttpd bin-path suite overrides both). */
  kill(): Promise<void>
  restart(): Promise<void>
}

export interface Limitation {
  /** what the front end does, for the matrix and the README */
  note: string
  /** asserts that documented behaviour */
  check(ctx: Ctx): Promise<void>
}

export interface Case {
  name: string
  title: string
  run(ctx: Ctx): Promise<void>
  /** the front end must not log a broken exchange during this case */
  cleanLog?: boolean
}

export interface Started {
  target: Target
  stop(): Promise<void>
  kill?(): Promise<void>
  restart?(): Promise<void>
}

export interface SuiteSpec {
  frontEnd: string
  mode: string
  transport: Transport
  engine: EngineName
  /** back ends to start in this process (2 for failover); 0 when the front end spawns its own */
  backends?: number
  start(backends: Backend[]): Promise<Started>
  /** how the front end uses back-end connections; asserted by the 'connections' case ('unknown': no such case) */
  connections: 'reuse' | 'per-request' | 'multiplexed' | 'unknown'
  /** whether a client still sending a body gets the answer of a handler that answered after its
   * first piece: only where the front end streams the body to the back end AND reads the
   * response meanwhile (nginx with fastcgi_request_buffering off, HAProxy, cgi-fcgi); 'either'
   * where the front end does one or the other depending on timing (both answers are right) */
  answersBeforeBodyEnds: boolean | 'either'
  /** back-end connections per request in 'per-request' mode (2 with an authorizer) */
  connectionsPerRequest?: number
  limits?: Partial<Record<string, Limitation>>
  /** mode-specific cases, run before the abort and restart cases */
  extra?: Case[]
  /** a common case done differently in this mode (e.g. lighttpd respawning a bin-path back end) */
  replace?: Partial<Record<string, Case>>
  /** error-log lines that mean the front end saw a broken exchange */
  upstreamErrors?: RegExp
}

// ---- helpers ----------------------------------------------------------------------------------

export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i + seed + (i >> 10)) % 253
  return b
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

export function show(r: HttpResult | RawResponse): string {
  const s = 'status' in r ? r.status : 0
  return `status ${s}, body ${JSON.stringify(r.body.subarray(0, 300).toString('latin1'))}`
}

function json(r: HttpResult | RawResponse): Record<string, any> {
  try {
    return JSON.parse(r.body.toString())
  } catch {
    throw new Error(`not JSON: ${show(r)}`)
  }
}

export async function expectOk(t: Target, path = '/params'): Promise<void> {
  const r = await t.request(path)
  assert.equal(r.status, 200, `the next request (${path}) failed: ${show(r)}`)
}

export async function slowStatus(t: Target, id: string): Promise<{ started: boolean; aborted: boolean; finished: boolean }> {
  const r = await t.request(`/aborted?id=${id}`, { timeoutMs: 5000 })
  assert.equal(r.status, 200, show(r))
  return json(r) as { started: boolean; aborted: boolean; finished: boolean }
}

async function echoCase(t: Target, size: number, o: HttpOptions): Promise<void> {
  const body = pattern(size, size & 255)
  const r = await t.request('/echo', { ...o, body, method: 'POST', timeoutMs: 60_000 })
  assert.equal(r.status, 200, show(r))
  assert.equal(r.headers['x-length'], String(size), 'bytes the handler received')
  assert.equal(r.headers['x-sha256'], sha256(body), 'sha256 of what the handler received')
  assert.equal(r.body.length, size, 'response length')
  assert.ok(r.body.equals(body), 'response bytes')
}

// ---- the cases --------------------------------------------------------------------------------

export const COMMON: Case[] = [
  {
    name: 'get',
    title: 'GET with a query string: CGI params, custom headers, cookies',
    cleanLog: true,
    async run({ target }) {
      const r = await target.request('/params?a=1&b=two%20words', { headers: { Cookie: 'c=3; d=4', 'X-Custom': 'hi there' } })
      assert.equal(r.status, 200, show(r))
      const j = json(r)
      assert.equal(j.method, 'GET')
      assert.equal(j.params.REQUEST_METHOD, 'GET')
      assert.equal(j.query, 'a=1&b=two%20words')
      assert.ok(String(j.url).endsWith('/params?a=1&b=two%20words'), `url ${j.url}`)
      assert.equal(j.cookie, 'c=3; d=4')
      assert.equal(j.custom, 'hi there')
      assert.equal(j.role, 'responder')
    },
  },
  {
    name: 'connections',
    title: 'the front end uses back-end connections as configured',
    cleanLog: true,
    async run({ spec, target, backend }) {
      if (spec.connections === 'multiplexed') {
        // 10 concurrent slow requests: more requests in flight than connections open (this case
        // runs early, while the front end has at most one idle connection from the previous one)
        let peak = { connections: 0, active: 0 }
        let stop = false
        const sampler = (async () => {
          while (!stop) {
            const s = backend.stats()
            if (s.requestsActive > peak.active) peak = { connections: s.connections, active: s.requestsActive }
            await new Promise((r) => setTimeout(r, 10))
          }
        })()
        const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => target.request(`/slow?id=mpx${i}&ms=400`)))
        stop = true
        await sampler
        assert.ok(rs.every((r) => r.status === 200))
        assert.ok(peak.active >= 5 && peak.connections < peak.active, `peak ${peak.active} requests on ${peak.connections} connections`)
        return
      }
      const before = backend.stats().connectionsTotal
      for (let i = 0; i < 10; i++) assert.equal((await target.request('/params')).status, 200)
      const opened = backend.stats().connectionsTotal - before
      const perRequest = spec.connectionsPerRequest ?? 1
      if (spec.connections === 'per-request') assert.equal(opened, 10 * perRequest, `opened ${opened} connections for 10 requests`)
      else assert.ok(opened < 10, `opened ${opened} connections for 10 sequential requests`)
    },
  },
  {
    name: 'post-10m',
    title: 'POST 10 MiB echoed exactly (sha256)',
    cleanLog: true,
    run: ({ target }) => echoCase(target, 10 * 1024 * 1024, {}),
  },
  {
    name: 'unread-10m',
    title: '10 MiB posted to a handler that never reads it, then the next request works',
    cleanLog: true,
    async run({ target }) {
      const r = await target.request('/ignore-body', { method: 'POST', body: pattern(10 * 1024 * 1024), timeoutMs: 60_000 })
      assert.equal(r.status, 200, show(r))
      assert.equal(r.body.toString(), 'did not read\n')
      await expectOk(target)
      await expectOk(target)
    },
  },
  {
    name: 'chunked',
    title: 'chunked upload (2 MiB, no Content-Length) echoed exactly',
    cleanLog: true,
    run: ({ target }) => echoCase(target, 2 * 1024 * 1024, { bodyMode: 'chunked' }),
  },
  {
    name: 'slow-body',
    title: 'a body sent slowly in two halves, echoed exactly',
    cleanLog: true,
    run: ({ target }) => echoCase(target, 256 * 1024 + 3, { bodyMode: 'slow', slowPauseMs: 500 }),
  },
  {
    name: 'early-answer',
    title: 'a handler that answers after the first piece of a 1 MiB body, without reading the rest',
    cleanLog: true,
    async run({ spec, target }) {
      const r = await target.partialUpload('/first', { total: 1024 * 1024, first: 64 * 1024, waitMs: 1500 })
      assert.equal(r.status, 200, `status ${r.status}: ${r.body.toString().slice(0, 200)}`)
      assert.ok(JSON.parse(r.body.toString()).first > 0, r.body.toString())
      if (spec.answersBeforeBodyEnds !== 'either') {
        assert.equal(
          r.answeredEarly,
          spec.answersBeforeBodyEnds,
          spec.answersBeforeBodyEnds ? 'the answer should arrive while the client still holds the rest' : 'this front end buffers the body (or writes it all before reading)',
        )
      }
      await expectOk(target)
      await expectOk(target)
    },
  },
  {
    name: 'big-1m',
    title: '1 MiB response, exact',
    cleanLog: true,
    async run({ target }) {
      const r = await target.request('/big')
      assert.equal(r.status, 200, show(r))
      assert.equal(r.body.length, BIG.length)
      assert.ok(r.body.equals(BIG), 'response bytes')
    },
  },
  {
    name: 'error-500',
    title: '500 from a throwing handler; the server keeps serving',
    cleanLog: true,
    async run({ target, backends }) {
      const r = await target.request('/throw')
      assert.equal(r.status, 500, show(r))
      await expectOk(target)
      if (backends.length > 0) assert.ok(backends.some((b) => b.logs.some((l) => l.includes('handler exploded'))), 'the error was logged')
    },
  },
  {
    name: 'not-found',
    title: '404 from the handler',
    cleanLog: true,
    async run({ target }) {
      const r = await target.request('/nope')
      assert.equal(r.status, 404, show(r))
      assert.equal(r.body.toString(), 'not found\n')
    },
  },
  {
    name: 'stderr',
    title: "stderr output appears in the front end's error log",
    async run({ target, uniq }) {
      const m = uniq('stderr')
      const r = await target.request(`/stderr?m=${m}`)
      assert.equal(r.status, 200, show(r))
      await waitFor(`stderr-marker-${m} in the error log`, () => target.errorLog().includes(`stderr-marker-${m}`), 3000)
    },
  },
  {
    name: 'head-get',
    title: 'HEAD (no body on the wire) then GET on the same client connection',
    cleanLog: true,
    async run({ target }) {
      const { head, bytesAfterHead, get } = await target.headThenGet('/big', '/params?after=head')
      assert.equal(head.status, 200, head.head)
      assert.equal(bytesAfterHead, 0, 'bytes after the HEAD response head')
      assert.equal(get.status, 200, get.head)
      assert.equal(json(get).query, 'after=head')
    },
  },
  {
    name: 'parallel-50',
    title: '50 parallel mixed requests',
    cleanLog: true,
    async run({ target }) {
      const post = pattern(64 * 1024, 7)
      const results = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const kind = i % 5
          if (kind <= 1) {
            const r = await target.request(`/params?i=${i}`)
            assert.equal(r.status, 200, show(r))
            assert.equal(json(r).query, `i=${i}`)
          } else if (kind === 2) {
            const r = await target.request('/echo', { method: 'POST', body: post })
            assert.equal(r.status, 200, show(r))
            assert.ok(r.body.equals(post), `echo ${i}`)
          } else if (kind === 3) {
            const r = await target.request('/big')
            assert.ok(r.body.equals(BIG), `big ${i}: ${r.status}, ${r.body.length} bytes`)
          } else {
            const r = await target.request(`/nope?i=${i}`)
            assert.equal(r.status, 404, show(r))
          }
          return true
        }),
      )
      assert.equal(results.length, 50)
    },
  },
]

export const ABORT: Case = {
  name: 'client-abort',
  title: "a client that gives up mid-request: the handler's req.signal aborts, the server keeps serving",
  async run({ target, uniq }) {
    const id = uniq('abort')
    const giveUp = await target.abandon(`/slow?id=${id}&ms=8000`)
    await waitFor('the slow handler to start', async () => (await slowStatus(target, id)).started, 5000)
    giveUp()
    await waitFor('req.signal to abort', async () => (await slowStatus(target, id)).aborted, 5000, 100)
    await expectOk(target)
  },
}

/** Front ends that wait for the response without watching the client: a client that gives up is
 * noticed only when the response is written to it. The request runs to its end (the back-end
 * connection stays open, so req.signal cannot fire) and the server serves on. */
export function abortNotPassedOn(note: string): Limitation {
  return {
    note,
    async check({ target, uniq }) {
      const id = uniq('abort')
      const giveUp = await target.abandon(`/slow?id=${id}&ms=2000`)
      await waitFor('the slow handler to start', async () => (await slowStatus(target, id)).started, 5000)
      giveUp()
      await sleep(700)
      assert.deepEqual(await slowStatus(target, id), { started: true, aborted: false, finished: false }, '0.7 s after the client left')
      await waitFor('the handler to finish on its own', async () => (await slowStatus(target, id)).finished, 4000, 100)
      assert.equal((await slowStatus(target, id)).aborted, false)
      await expectOk(target)
    },
  }
}

/** Kill the back end, check the fast 5xx while it is down, restart it; the first answer after. */
export async function killAndRestart(ctx: Ctx): Promise<HttpResult> {
  await ctx.kill()
  for (let i = 0; i < 3; i++) {
    const r = await ctx.target.request('/params', { timeoutMs: 10_000 })
    assert.ok(r.status >= 500 && r.status <= 599, `while down: ${show(r)}`)
    assert.ok(r.ms < 3000, `while down the answer took ${r.ms} ms`)
    assert.ok(!r.body.includes(PROTECTED_MARKER))
  }
  await ctx.restart()
  return ctx.target.request('/params')
}

export const RESTART: Case = {
  name: 'restart',
  title: 'back end killed and restarted: fast 5xx while down, success right after',
  async run(ctx) {
    const logFrom = ctx.target.errorLog().length
    const r = await killAndRestart(ctx)
    if (r.status !== 200) await new Promise((resolve) => setTimeout(resolve, 200)) // its log line
    const log = ctx.target.errorLog().slice(logFrom).split('\n').slice(-15).join('\n')
    assert.equal(r.status, 200, `the first request after the restart failed: ${show(r)}\nfront-end log since the kill:\n${log}`)
  },
}

// ---- authorizer cases (front ends with a FastCGI Authorizer in front of the responder) ---------

/** What an authorizer suite needs besides its target. */
export interface AuthorizerSetup {
  /** the same front end, reached without credentials */
  raw(): Target
  /** the params the front end turns Variable-User and Variable-Auth-Level into */
  userParam: string
  levelParam: string
  /** another front end of the same kind whose authorizer is at `address` (responder: the suite's back end) */
  startWithAuthorizer(address: string, backend: Backend): Promise<FrontEnd>
  /** the authorizer's address for this transport (mod_authnz_fcgi: TCP only) */
  authorizerTransport: Transport
}

/** Cases for an authorizer mode; the suite's target sends X-Auth: alice. */
export function authorizerCases(a: AuthorizerSetup): Case[] {
  return [
    {
      name: 'auth-allow',
      title: "authorizer allows; its Variable-* values reach the responder's params",
      async run({ target }) {
        const r = await target.request('/secret')
        assert.equal(r.status, 200, show(r))
        const j = json(r)
        assert.equal(j.marker, PROTECTED_MARKER)
        assert.equal(j.params[a.userParam], 'alice', `param ${a.userParam}; got ${JSON.stringify(j.params)}`)
        assert.equal(j.params[a.levelParam], 'admin', `param ${a.levelParam}; got ${JSON.stringify(j.params)}`)
      },
    },
    {
      name: 'auth-headers',
      title: "the authorizer's other headers on a 200 are not passed to the client (FastCGI spec 6.3)",
      async run({ target }) {
        const r = await target.request('/secret')
        assert.equal(r.status, 200, show(r))
        assert.equal(r.headers['x-authorizer-only'], undefined)
      },
    },
    {
      name: 'auth-deny',
      title: "authorizer denies: the client gets the authorizer's 403 and body, never the resource",
      async run() {
        for (const headers of [{}, { 'X-Auth': 'mallory' }] as Record<string, string>[]) {
          const r = await a.raw().request('/secret', { headers })
          assert.equal(r.status, 403, show(r))
          assert.ok(r.body.toString().includes('denied by the authorizer'), show(r))
          assert.ok(!r.body.includes(PROTECTED_MARKER))
        }
      },
    },
    {
      name: 'auth-error',
      title: 'authorizer throws (answers 500): the request is refused, never let through',
      async run() {
        const r = await a.raw().request('/secret', { headers: { 'X-Auth': 'throw' } })
        assert.equal(r.status, 500, show(r))
        assert.ok(!r.body.includes(PROTECTED_MARKER), show(r))
      },
    },
    {
      name: 'auth-overloaded',
      title: 'authorizer over capacity (FCGI_OVERLOADED): the request is refused, never let through',
      async run({ spec, backend }) {
        const auth = await serveFcgi({
          engine: spec.engine,
          handler: makeApp('overloaded-authorizer'),
          listen: a.authorizerTransport === 'unix' ? tempSocketPath() : 0,
          maxConns: 1,
          logger: () => {},
        })
        const address = auth.address.type === 'unix' ? auth.address.path : `127.0.0.1:${auth.address.port}`
        if (auth.address.type === 'unix') chmodSync(auth.address.path, 0o666)
        // one idle connection takes the only slot: the front end's connection gets OVERLOADED
        const hog = auth.address.type === 'unix' ? net.connect(auth.address.path) : net.connect(auth.address.port, '127.0.0.1')
        hog.on('error', () => {})
        let fe: FrontEnd | null = null
        try {
          await waitFor('the idle connection to be accepted', () => auth.stats().connections === 1, 3000, 10)
          fe = await a.startWithAuthorizer(address, backend)
          for (const headers of [{}, { 'X-Auth': 'alice' }] as Record<string, string>[]) {
            const r = await http(fe.port, '/protected/secret', { headers })
            assert.ok(!r.body.includes(PROTECTED_MARKER), `let through: ${show(r)}`)
            assert.ok(r.status >= 500, show(r))
          }
          assert.ok(auth.stats().errors >= 1, 'the authorizer answered FCGI_OVERLOADED')
        } finally {
          await fe?.stop()
          hog.destroy()
          await auth.close({ timeout: 500 })
        }
      },
    },
  ]
}

// ---- suite declaration -----------------------------------------------------------------------

let counter = 0

/** Declare one suite: a describe block with one front end + back end(s) shared by its cases. */
export function declareSuite(matrix: Matrix, spec: SuiteSpec, skip?: string | null): void {
  const cases = [...COMMON.filter((c) => c.name !== 'connections' || spec.connections !== 'unknown'), ...(spec.extra ?? []), ABORT, RESTART].map(
    (c) => spec.replace?.[c.name] ?? c,
  )
  const where = { mode: spec.mode, transport: spec.transport, engine: spec.engine }
  describe(`${spec.frontEnd}: ${spec.mode}, ${spec.transport}`, { skip: skip ?? false }, () => {
    let ctx: Ctx | null = null
    let started: Started | null = null
    let setupError: unknown = null
    const backends: Backend[] = []
    before(async () => {
      try {
        for (let i = 0; i < (spec.backends ?? 1); i++) backends.push(await startBackend(spec.engine, spec.transport, `b${i + 1}`))
        started = await spec.start(backends)
        const s = started
        ctx = {
          spec,
          target: s.target,
          backends,
          backend: backends[0],
          uniq: (what) => `${what}-${spec.engine}-${spec.transport}-${++counter}-${Date.now() % 100000}`,
          kill: s.kill ?? (() => Promise.all(backends.map((b) => b.kill())).then(() => {})),
          restart: s.restart ?? (() => Promise.all(backends.map((b) => b.restart())).then(() => {})),
        }
      } catch (err) {
        setupError = err
      }
    })
    after(async () => {
      await started?.stop()
      await Promise.all(backends.map((b) => b.close()))
    })
    for (const c of cases) {
      const limit = spec.limits?.[c.name]
      test(`${c.name}: ${c.title}${limit ? ` [limitation: ${limit.note}]` : ''}`, async () => {
        const t0 = Date.now()
        try {
          if (setupError || !ctx) throw setupError ?? new Error('suite setup failed')
          const logBefore = ctx.target.errorLog().length
          if (limit) await limit.check(ctx)
          else await c.run(ctx)
          if (c.cleanLog && !limit && spec.upstreamErrors) {
            const added = ctx.target.errorLog().slice(logBefore)
            const bad = added.split('\n').filter((l) => spec.upstreamErrors!.test(l))
            assert.equal(bad.length, 0, `the front end logged a broken exchange:\n${bad.slice(0, 5).join('\n')}`)
          }
          matrix.record({ ...where, case: c.name, outcome: limit ? 'limitation' : 'pass', note: limit?.note, ms: Date.now() - t0 })
        } catch (err) {
          matrix.record({ ...where, case: c.name, outcome: 'fail', note: String((err as Error)?.message ?? err).split('\n')[0], ms: Date.now() - t0 })
          throw err
        }
      })
    }
  })
}

/** Declare every suite of one front end on both engines (forEachEngine), record the cells of
 * suites that cannot run as skipped, and write/print this front end's matrix at the end. */
export function declareFrontEnd(o: { frontEnd: string; version: string; skip: string | null; suites: (engine: EngineName) => SuiteSpec[] }): void {
  const matrix = new Matrix(o.frontEnd, o.version)
  for (const engine of ['js', 'native'] as const) {
    const why = o.skip ?? (engine === 'native' ? nativeUnavailable() : null)
    if (!why) continue
    for (const spec of o.suites(engine)) {
      matrix.record({ mode: spec.mode, transport: spec.transport, engine, case: '*', outcome: 'skip', note: why, ms: 0 })
    }
  }
  forEachEngine(`${o.frontEnd} interop`, (engine) => {
    for (const spec of o.suites(engine)) declareSuite(matrix, spec, o.skip)
  })
  if (o.skip) test(`${o.frontEnd} interop skipped: ${o.skip}`, { skip: o.skip }, () => {})
  after(() => matrix.finish())
}
