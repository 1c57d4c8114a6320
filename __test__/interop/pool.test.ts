// Scale-out is the front ends' upstream pools over TCP FastCGI. Three back-end hosts, each in its
// own network namespace with its own address (__test__/interop/netns.ts), behind nginx and behind
// HAProxy (running in a fourth namespace, reached over a unix socket). Under sustained load every
// response is counted: a host killed mid-load fails over, a host drained with SIGTERM causes no
// 5xx, a rolling restart of every host loses nothing, and an overloaded host (FCGI_OVERLOADED)
// sends its requests on to the next upstream. On both engines.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { EngineName } from 'fcgi'
import { forEachEngine } from '../helpers/engines.ts'
import { haproxyPreamble } from './haproxy.ts'
import { missing, sleep, tempDir, which } from './harness.ts'
import { createLab, netnsMissing, spawnIn, waitForUnixSocket, type Lab, type NsProcess } from './netns.ts'

const HOST_APP = join(import.meta.dirname, '..', 'fixtures', 'pool', 'host.mjs')
const ROOT = join(import.meta.dirname, '..', '..')
const PORT = 9000
const HOSTS = 3

type FrontEndName = 'nginx' | 'haproxy'

function nginxConf(dir: string, lab: Lab): string {
  const servers = lab.hosts.map((h) => `server ${h.addr}:${PORT} max_fails=1 fail_timeout=2s;`).join('\n    ')
  return `
daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  fastcgi_temp_path ${dir}/fastcgi;
  upstream pool {
    ${servers}
    keepalive 8;
  }
  server {
    listen unix:${dir}/front.sock;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass pool;
      fastcgi_keep_conn on;
      # an error, a timeout or an answer with no valid head (FCGI_OVERLOADED ends the request with
      # no output) moves the request to the next host
      fastcgi_next_upstream error timeout invalid_header;
      fastcgi_connect_timeout 1s;
      fastcgi_read_timeout 10s;
    }
  }
}
`
}

function haproxyConf(dir: string, lab: Lab): string {
  const servers = lab.hosts.map((h, i) => `server h${i + 1} ${h.addr}:${PORT} proto fcgi check inter 300ms fall 1 rise 2`).join('\n  ')
  return `${haproxyPreamble(dir, { connect: '1s', server: '10s' })}
fcgi-app app
  log-stderr global
  docroot ${dir}
  option keep-conn

frontend web
  bind ${dir}/front.sock
  default_backend pool

backend pool
  use-fcgi-app app
  balance roundrobin
  http-reuse always
  # a failed connection or a request that got no answer (killed host, closed kept connection,
  # FCGI_OVERLOADED) is retried on another host
  option redispatch 1
  retries 3
  retry-on all-retryable-errors
  ${servers}
`
}

interface LoadResult {
  total: number
  statuses: Map<number, number>
  byHost: Map<string, number>
  errors: string[]
  /** The slowest answer, in ms. */
  slowestMs: number
}

/** Requests from `concurrency` loops on kept connections until `stop()` (or `max` requests). */
function startLoad(socketPath: string, concurrency = 8, max = 20_000) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const result: LoadResult = { total: 0, statuses: new Map(), byHost: new Map(), errors: [], slowestMs: 0 }
  let running = true
  const one = () =>
    new Promise<void>((resolve) => {
      const started = Date.now()
      const req = http.request({ socketPath, path: '/pool', agent, timeout: 15_000 }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => {
          result.statuses.set(res.statusCode!, (result.statuses.get(res.statusCode!) ?? 0) + 1)
          if (res.statusCode === 200) result.byHost.set(body, (result.byHost.get(body) ?? 0) + 1)
          result.slowestMs = Math.max(result.slowestMs, Date.now() - started)
          resolve()
        })
      })
      req.on('timeout', () => req.destroy(new Error('no answer in 15 s')))
      req.on('error', (err) => {
        result.errors.push(err.message)
        resolve()
      })
      req.end()
    })
  const loops = Array.from({ length: concurrency }, async () => {
    while (running && result.total < max) {
      result.total++
      await one()
    }
  })
  return {
    result,
    async stop(): Promise<LoadResult> {
      running = false
      await Promise.all(loops)
      agent.destroy()
      return result
    },
  }
}

function summary(r: LoadResult): string {
  return JSON.stringify({ total: r.total, statuses: Object.fromEntries(r.statuses), byHost: Object.fromEntries(r.byHost), errors: r.errors.slice(0, 5), slowestMs: r.slowestMs })
}

/** Every request made got a 200: none failed, none lost. */
function assertAllAnswered(r: LoadResult, log: () => string): void {
  const ok = r.statuses.get(200) ?? 0
  assert.equal(r.errors.length, 0, `client errors: ${summary(r)}\n${log()}`)
  assert.equal(ok, r.total, `not every request got 200: ${summary(r)}\n${log()}`)
}

const skipWhy = (fe: FrontEndName): string | false => netnsMissing() ?? missing(fe) ?? false

forEachEngine('a pool of hosts in network namespaces', (engine: EngineName) => {
  for (const fe of ['nginx', 'haproxy'] as const) {
    describe(`behind ${fe}`, { skip: skipWhy(fe) }, () => {
      let lab: Lab
      let dir: string
      let frontEnd: NsProcess
      const hosts: NsProcess[] = []
      const sock = () => join(dir, 'front.sock')
      const frontLog = () => frontEnd.output() + (fe === 'nginx' && existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '')
      const log = () => `${fe} log:\n${frontLog().split('\n').filter((l) => !/\[(info|notice)\]/.test(l)).slice(-15).join('\n')}\nhosts:\n${hosts.map((h) => h.output().slice(-500)).join('\n')}`

      async function startHost(i: number, env: Record<string, string> = {}): Promise<void> {
        const h = lab.hosts[i]
        const p = spawnIn(
          h.ns,
          process.execPath,
          [HOST_APP],
          { ...process.env, HOST_NAME: `h${i + 1}`, ENGINE: engine, LISTEN: `${h.addr}:${PORT}`, DELAY_MS: '5', ...env },
          ROOT,
        )
        hosts[i] = p
        const deadline = Date.now() + 15_000
        while (!p.output().includes('READY')) {
          if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`host h${i + 1} did not start: ${p.output()}`)
          await sleep(20)
        }
      }

      before(async () => {
        lab = createLab(HOSTS)
        dir = tempDir(`pool-${fe}`)
        for (let i = 0; i < HOSTS; i++) await startHost(i)
        if (fe === 'nginx') {
          writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, lab))
          frontEnd = spawnIn(lab.front, which('nginx')!, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')])
        } else {
          writeFileSync(join(dir, 'haproxy.cfg'), haproxyConf(dir, lab))
          frontEnd = spawnIn(lab.front, which('haproxy')!, ['-db', '-f', join(dir, 'haproxy.cfg')])
        }
        await waitForUnixSocket(sock())
        // every host answers before the cases start
        const warm = startLoad(sock(), 4)
        await sleep(1000)
        const r = await warm.stop()
        assertAllAnswered(r, log)
        assert.equal(r.byHost.size, HOSTS, summary(r))
      }, { timeout: 60_000 })

      after(async () => {
        await frontEnd?.stop(3000)
        await Promise.all(hosts.map((h) => h.stop(3000)))
        lab?.destroy()
      }, { timeout: 30_000 })

      test('a host killed mid-load (SIGKILL): the others take over, every request answered', { timeout: 60_000 }, async () => {
        const load = startLoad(sock())
        await sleep(700)
        hosts[0].signal('SIGKILL')
        await hosts[0].exited
        const killedAt = load.result.total
        await sleep(1500)
        const r = await load.stop()
        assertAllAnswered(r, log)
        assert.ok(r.total > killedAt + 50, `load went on after the kill: ${summary(r)}`)
        await startHost(0)
      })

      test('a host drained with SIGTERM: no 5xx, nothing lost, it exits', { timeout: 60_000 }, async () => {
        const load = startLoad(sock())
        await sleep(700)
        await hosts[1].stop(10_000)
        assert.equal(hosts[1].child.exitCode, 0, `the drained host exits 0: ${hosts[1].output()}`)
        await sleep(1000)
        const r = await load.stop()
        assertAllAnswered(r, log)
        await startHost(1)
      })

      test('a rolling restart of every host under load loses nothing', { timeout: 60_000 }, async () => {
        const load = startLoad(sock())
        await sleep(500)
        for (let i = 0; i < HOSTS; i++) {
          await hosts[i].stop(10_000)
          await startHost(i)
          // as an operator does: the next host goes down only once the front end uses this one
          // again (nginx: after fail_timeout, 2 s, from its last failure; HAProxy: 2 good checks)
          await sleep(fe === 'haproxy' ? 1000 : 2300)
        }
        await sleep(500)
        const r = await load.stop()
        assertAllAnswered(r, log)
        assert.equal(r.byHost.size, HOSTS, `every host served during the restart: ${summary(r)}`)
      })

      test('an overloaded host (FCGI_OVERLOADED past maxConns): its requests go to the next host', { timeout: 60_000 }, async () => {
        await hosts[2].stop()
        await startHost(2, { MAX_CONNS: '1' })
        const load = startLoad(sock(), 16)
        await sleep(1500)
        const r = await load.stop()
        assertAllAnswered(r, log)
        // moved on at once, not after the front end gave up on the host (timeout server 10 s,
        // fastcgi_read_timeout 10 s): HAProxy waited for that until the overloaded connection
        // was closed after its answer
        assert.ok(r.slowestMs < 5000, `every request answered well before the front end's 10 s timeout: ${summary(r)}`)
        await hosts[2].stop()
        await startHost(2)
      })
    })
  }
})
