// Apache httpd 2.4 as a FastCGI front end: a minimal config loading only the modules needed from
// /usr/lib/apache2/modules, written into a temp dir and run with -DFOREGROUND (never the
// system service). mod_proxy_fcgi is the responder; mod_authnz_fcgi puts our server in front
// of it as a FastCGI Authorizer.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startProcess, tempDir, which, type FrontEnd } from './harness.ts'

export const APACHE_MODULES = '/usr/lib/apache2/modules'

export function apacheBinary(): string | null {
  return which('apache2') ?? which('httpd')
}

export interface ApacheOptions {
  /** unix path or host:port of the responder */
  backend: string
  /** ProxyPass enablereuse=on: keep back-end connections open between requests */
  reuse: boolean
  /** host:port of a FastCGI Authorizer guarding /protected/ (mod_authnz_fcgi speaks TCP only) */
  authorizer?: string
}

export async function startApache(o: ApacheOptions): Promise<FrontEnd> {
  const dir = tempDir('apache')
  const port = await freePort()
  const url = o.backend.startsWith('/') ? `"unix:${o.backend}|fcgi://localhost/"` : `fcgi://${o.backend}/`
  const params = `timeout=20${o.reuse ? ' enablereuse=on' : ''}`
  const modules: [string, string][] = [
    ['authn_core_module', 'mod_authn_core.so'],
    ['proxy_module', 'mod_proxy.so'],
    ['proxy_fcgi_module', 'mod_proxy_fcgi.so'],
  ]
  if (o.authorizer) modules.push(['authnz_fcgi_module', 'mod_authnz_fcgi.so'])
  const conf = apacheConfig(dir, port, modules, `Timeout 20
StartServers 1
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
ProxyPass / ${url} ${params}
${
  o.authorizer
    ? `AuthnzFcgiDefineProvider authnz App fcgi://${o.authorizer}/
<Location "/protected/">
  AuthType Basic
  AuthName app
  AuthnzFcgiCheckAuthnProvider App Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:User}"
  Require App
</Location>`
    : ''
}
`)
  return runApache(dir, port, conf)
}

/** An httpd.conf listening on 127.0.0.1:`port` with its state in `dir`: mpm_event, authz_core
 * and `modules` loaded, the children as www-data (nobody) when we are root; `body` follows. */
export function apacheConfig(dir: string, port: number, modules: [name: string, file: string][], body: string): string {
  const root = process.getuid?.() === 0
  const user = root ? (existsSync('/etc/apache2') ? 'www-data' : 'nobody') : null
  const load = [['mpm_event_module', 'mod_mpm_event.so'], ['authz_core_module', 'mod_authz_core.so'], ...modules]
    .map(([name, file]) => `LoadModule ${name} ${join(APACHE_MODULES, file)}`)
    .join('\n')
  return `
ServerRoot ${dir}
PidFile ${dir}/httpd.pid
ErrorLog ${dir}/error.log
LogLevel warn
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
${load}
${user ? `User ${user}\nGroup ${user === 'nobody' ? 'nogroup' : user}` : ''}
${body}`
}

export function runApache(dir: string, port: number, conf: string): Promise<FrontEnd> {
  writeFileSync(join(dir, 'httpd.conf'), conf)
  return startProcess(apacheBinary()!, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], {
    port,
    dir,
    logFile: join(dir, 'error.log'),
    env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir, LANG: 'C' },
  })
}
