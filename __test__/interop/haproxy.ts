// HAProxy as a FastCGI front end (fcgi-app + use-fcgi-app), configured in a temp dir and run in
// the foreground (-db). Its log (including the back end's FCGI_STDERR, via log-stderr) goes to
// stdout, which the harness keeps as the error log.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startProcess, tempDir, which, type FrontEnd } from './harness.ts'

export interface HaproxyOptions {
  /** unix path or host:port of the back end */
  backend: string
  /** option keep-conn */
  keepConn: boolean
  /** option mpxs-conns: multiplex requests on a connection (after FCGI_GET_VALUES) */
  mpxs: boolean
}

/** The global and defaults sections every HAProxy config here starts with: pid file in `dir`,
 * the log (and the back end's FCGI_STDERR) on stdout, HTTP mode. */
export function haproxyPreamble(dir: string, timeouts: { connect: string; server: string }): string {
  return `
global
  pidfile ${dir}/haproxy.pid
  log stdout format raw local0 info
  maxconn 1000

defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  timeout connect ${timeouts.connect}
  timeout client 30s
  timeout server ${timeouts.server}
  timeout http-request 30s
`
}

export async function startHaproxy(o: HaproxyOptions): Promise<FrontEnd> {
  const dir = tempDir('haproxy')
  const port = await freePort()
  const conf = `${haproxyPreamble(dir, { connect: '2s', server: '20s' })}
fcgi-app app
  log-stderr global
  docroot ${dir}
  ${o.keepConn ? 'option keep-conn' : 'no option keep-conn'}
  ${o.mpxs ? 'option mpxs-conns\n  option max-reqs 64' : 'no option mpxs-conns'}

frontend web
  bind 127.0.0.1:${port}
  default_backend app

backend app
  use-fcgi-app app
  # reuse idle back-end connections for any client (the default, safe, never gives a new client's
  # first request an idle connection); one retry, 1 s later (the default 3 make a 503 take 3 s)
  http-reuse always
  retries 1
  server s1 ${o.backend} proto fcgi
`
  writeFileSync(join(dir, 'haproxy.cfg'), conf)
  return startProcess(which('haproxy')!, ['-db', '-f', join(dir, 'haproxy.cfg')], {
    port,
    dir,
    logFile: join(dir, 'none.log'),
  })
}
