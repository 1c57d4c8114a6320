// The front-end snippets in examples/frontends/ as a user would install them (only the socket
// path and the listening port are substituted), in front of the example apps (Express and Koa
// through nodeHandler, Hono through fetch), with the status page on: real nginx, Caddy and
// Apache from Debian on loopback, both engines.
import assert from 'node:assert/strict'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import expressApp from '../../examples/express.ts'
import honoApp from '../../examples/hono.ts'
import koaApp from '../../examples/koa.ts'
import { serveFcgi, type Handler, type Server } from 'fcgi'
import { forEachEngine } from '../helpers/engines.ts'
import { tempSocketPath } from '../helpers/server.ts'
import { APACHE_MODULES, apacheConfig, runApache } from './apache.ts'
import { freePort, http, missing, missingFile, startProcess, tempDir, which, type FrontEnd } from './harness.ts'
import { nginxConfig, runNginx } from './nginx.ts'

const EXAMPLES = join(import.meta.dirname, '../../examples/frontends')
const SOCKET = '/run/app/fcgi.sock'

function snippet(file: string, sock: string, replacements: [string, string][]): string {
  let text = readFileSync(join(EXAMPLES, file), 'utf8').replaceAll(SOCKET, sock)
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `${file} no longer contains ${from}`)
    text = text.replaceAll(from, to)
  }
  return text
}

async function nginx(sock: string): Promise<FrontEnd> {
  const dir = tempDir('nginx-example')
  const port = await freePort()
  const app = snippet('nginx.conf', sock, [['listen 80;', `listen 127.0.0.1:${port};`], ['include fastcgi_params;', 'include /etc/nginx/fastcgi_params;']])
  return runNginx(dir, port, nginxConfig(dir, `access_log off;\n${app}`))
}

async function caddy(sock: string): Promise<FrontEnd> {
  const dir = tempDir('caddy-example')
  const port = await freePort()
  const site = snippet('Caddyfile', sock, [['example.com {', `http://127.0.0.1:${port} {`]])
  writeFileSync(join(dir, 'Caddyfile'), `{\n\tadmin off\n\tauto_https off\n\tlog {\n\t\toutput file ${dir}/caddy.log\n\t}\n}\n${site}`)
  return startProcess(which('caddy')!, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    port,
    dir,
    logFile: join(dir, 'caddy.log'),
    env: { ...process.env, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, HOME: dir },
  })
}

async function apache(sock: string): Promise<FrontEnd> {
  const dir = tempDir('apache-example')
  const port = await freePort()
  const app = snippet('apache.conf', sock, [['<VirtualHost *:80>', `<VirtualHost 127.0.0.1:${port}>`]])
  const modules: [string, string][] = [['authz_host_module', 'mod_authz_host.so'], ['proxy_module', 'mod_proxy.so'], ['proxy_fcgi_module', 'mod_proxy_fcgi.so']]
  return runApache(dir, port, apacheConfig(dir, port, modules, `StartServers 1\n${app}`))
}

const FRONT_ENDS = [
  { name: 'nginx', start: nginx, skip: missing('nginx') },
  { name: 'caddy', start: caddy, skip: missing('caddy') },
  { name: 'apache', start: apache, skip: missing('apache2') ?? missingFile(`${APACHE_MODULES}/mod_proxy_fcgi.so`, 'mod_proxy_fcgi not found') },
]
const APPS: [string, Handler | { fetch: (r: Request) => Response | Promise<Response> }][] = [
  ['express', expressApp],
  ['koa', koaApp],
  ['hono', honoApp],
]

for (const fe of FRONT_ENDS) {
  describe(`examples/frontends: ${fe.name}`, { skip: fe.skip ?? false }, () => {
    forEachEngine(`${fe.name} snippet`, (engine) => {
      for (const [appName, app] of APPS) {
        describe(`examples/${appName}.ts`, () => {
          let server: Server
          let front: FrontEnd
          before(async () => {
            const sock = tempSocketPath()
            const common = { engine, listen: sock, logger: () => {}, status: { path: '/status', pool: appName } }
            server = await serveFcgi(typeof app === 'function' ? { ...common, handler: app } : { ...common, fetch: app.fetch })
            chmodSync(dirname(sock), 0o755) // Apache's children run as www-data when we are root
            chmodSync(sock, 0o666)
            front = await fe.start(sock)
          })
          after(async () => {
            await front?.stop()
            await server?.close({ timeout: 1000 })
          })

          test('routes, query, JSON body, redirect, status page', async () => {
            const r = await http(front.port, '/hello/w%C3%B6rld?x=1')
            assert.equal(r.status, 200, front.errorLog())
            assert.deepEqual(JSON.parse(r.body.toString()), { hello: 'wörld', query: { x: '1' } })
            const e = await http(front.port, '/echo', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"a":1}') })
            assert.deepEqual(JSON.parse(e.body.toString()), { got: { a: 1 } })
            const home = await http(front.port, '/')
            assert.match(home.body.toString(), /^Hello from /)
            if (appName === 'express') {
              const old = await http(front.port, '/old')
              assert.equal(old.status, 301)
              assert.match(String(old.headers.location), /\/$/)
            }
            const st = await http(front.port, '/status?json')
            assert.equal(st.status, 200, front.errorLog())
            assert.equal(JSON.parse(st.body.toString()).pool, appName)
          })
        })
      }
    })
  })
}
