// The status page, after PHP-FPM's (`pm.status_path`): the same labels where the meaning is the
// same (pool, start time, start since, accepted conn, listen queue, max listen queue, slow
// requests), our own where it differs (one process runs requests concurrently,
// so requests take the place of PHP-FPM's processes). Plain text by default, `?json` for JSON,
// `?openmetrics` for Prometheus, `?full` adds this process and one row per request in flight.
import { readFileSync } from 'node:fs'
import type { Protocol } from '../engine.ts'
import type { Address, EngineName, Handler, ServerStats } from '../types.ts'
import { clfDate } from './access-log.ts'
import type { Tracked } from './observe.ts'

export interface ServerView {
  engine: EngineName
  protocol: Protocol
  address: Address
  stats: () => ServerStats
}

type Row = [label: string, value: string | number]

export function statusHandler(pool: string, tracked: Tracked, server: () => ServerView | null): Handler {
  let maxListenQueue = 0
  return (req, res) => {
    const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '')
    const view = server()
    const stats = view?.stats()
    const now = Date.now()
    const queue = view ? listenQueue(view.address) : null
    if (queue !== null) maxListenQueue = Math.max(maxListenQueue, queue)
    const rows: Row[] = [
      ['pool', pool],
      ['process manager', 'single'],
      ['start time', clfDate(tracked.startTime)],
      ['start since', Math.floor((now - tracked.startTime.getTime()) / 1000)],
      ['accepted conn', stats?.connectionsTotal ?? 0],
      ['requests', stats?.requestsTotal ?? 0],
      ...(queue === null ? [] : ([['listen queue', queue], ['max listen queue', maxListenQueue]] as Row[])),
      ['active requests', tracked.active.size],
      ['max active requests', tracked.maxActive],
      ['open connections', stats?.connections ?? 0],
      ['slow requests', tracked.slowRequests],
      ['errors', stats?.errors ?? 0],
      ['aborts', stats?.aborts ?? 0],
      ['bytes read', stats?.bytesRead ?? 0],
      ['bytes written', stats?.bytesWritten ?? 0],
      ['engine', view?.engine ?? '-'],
      ['protocol', view?.protocol ?? '-'],
    ]
    const full = query.has('full')
    const proc = full ? processRows(tracked, stats, now) : []
    const requests = full ? [...tracked.active].map((r): Row[] => [
      ['request id', r.id],
      ['state', 'Running'],
      ['start time', clfDate(r.startTime)],
      ['request duration', Math.round((performance.now() - r.start) * 1000)], // µs, as PHP-FPM
      ['request method', r.method],
      ['request URI', r.url],
      ['content length', r.contentLength],
      ['remote addr', r.remoteAddr],
    ]) : []
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate, max-age=0')
    res.setHeader('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT')
    if (query.has('openmetrics')) {
      res.setHeader('Content-Type', 'application/openmetrics-text; version=1.0.0; charset=utf-8')
      res.end(openMetrics(pool, rows))
      return
    }
    if (query.has('json')) {
      res.setHeader('Content-Type', 'application/json')
      const body: Record<string, unknown> = Object.fromEntries(rows)
      if (full) {
        body.processes = [Object.fromEntries(proc)]
        body.requests = requests.map((r) => Object.fromEntries(r))
      }
      res.end(JSON.stringify(body))
      return
    }
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    let text = lines(rows)
    if (full) {
      text += `\n************************\n${lines(proc)}`
      for (const r of requests) text += `\n************************\n${lines(r)}`
    }
    res.end(text)
  }
}

/** `?openmetrics` (as PHP-FPM 8.1's): the numeric rows as metrics for Prometheus, labelled with
 * the pool. Counters only grow; gauges go both ways. */
const METRICS: Record<string, [name: string, type: 'counter' | 'gauge', help: string]> = {
  'start since': ['fcgi_start_since_seconds', 'gauge', 'Seconds since the server started.'],
  'accepted conn': ['fcgi_accepted_connections', 'counter', 'Connections accepted.'],
  requests: ['fcgi_requests', 'counter', 'Requests dispatched.'],
  'listen queue': ['fcgi_listen_queue', 'gauge', 'Connections waiting to be accepted.'],
  'max listen queue': ['fcgi_max_listen_queue', 'gauge', 'Most connections seen waiting to be accepted.'],
  'active requests': ['fcgi_active_requests', 'gauge', 'Requests running now.'],
  'max active requests': ['fcgi_max_active_requests', 'gauge', 'Most requests running at once.'],
  'open connections': ['fcgi_open_connections', 'gauge', 'Connections open now.'],
  'slow requests': ['fcgi_slow_requests', 'counter', 'Requests that passed the slowlog threshold.'],
  errors: ['fcgi_errors', 'counter', 'Protocol errors, handler errors, rejected requests.'],
  aborts: ['fcgi_aborts', 'counter', 'Requests aborted.'],
  'bytes read': ['fcgi_read_bytes', 'counter', 'Bytes read from connections.'],
  'bytes written': ['fcgi_written_bytes', 'counter', 'Bytes written to connections.'],
}

function openMetrics(pool: string, rows: Row[]): string {
  const label = `{pool="${pool.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"}`
  let out = ''
  for (const [key, value] of rows) {
    const metric = METRICS[key]
    if (!metric) continue
    const [name, type, help] = metric
    out += `# TYPE ${name} ${type}\n# HELP ${name} ${help}\n${name}${type === 'counter' ? '_total' : ''}${label} ${value}\n`
  }
  return `${out}# EOF\n`
}

function processRows(tracked: Tracked, stats: ServerStats | undefined, now: number): Row[] {
  const cpu = process.cpuUsage()
  return [
    ['pid', process.pid],
    ['state', tracked.active.size > 0 ? 'Running' : 'Idle'],
    ['start time', clfDate(tracked.startTime)],
    ['start since', Math.floor((now - tracked.startTime.getTime()) / 1000)],
    ['requests', stats?.requestsTotal ?? 0],
    ['memory rss', process.memoryUsage.rss()],
    ['cpu user ms', Math.round(cpu.user / 1000)],
    ['cpu system ms', Math.round(cpu.system / 1000)],
  ]
}

function lines(rows: Row[]): string {
  return rows.map(([label, value]) => `${`${label}:`.padEnd(22)}${value}\n`).join('')
}

/** Linux, TCP: connections waiting in the listening socket's accept queue (rx_queue of its LISTEN
 * row in /proc/net/tcp{,6}). Null elsewhere: unix sockets do not show theirs there, and the
 * queue's length (PHP-FPM's "listen queue len", from TCP_INFO) is not readable from Node. */
function listenQueue(address: Address): number | null {
  if (address.type !== 'tcp' || process.platform !== 'linux') return null
  const port = address.port.toString(16).toUpperCase().padStart(4, '0')
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string
    try {
      table = readFileSync(file, 'latin1')
    } catch {
      continue
    }
    for (const line of table.split('\n')) {
      const f = line.trim().split(/\s+/)
      // sl local_address rem_address st tx_queue:rx_queue; st 0A is LISTEN
      if (f[3] !== '0A' || !f[1]?.endsWith(`:${port}`)) continue
      return Number.parseInt(f[4].split(':')[1], 16)
    }
  }
  return null
}
