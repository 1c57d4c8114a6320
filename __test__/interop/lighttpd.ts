// lighttpd 1.4 as a FastCGI front end (mod_fastcgi), configured in a temp dir and run in the
// foreground (-D): a responder on a socket we listen on, an Authorizer in front of it, or a
// back end lighttpd spawns itself (`bin-path`, the listening socket handed over as fd 0).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startProcess, tempDir, which, type FrontEnd } from './harness.ts'

export interface LighttpdOptions {
  /** unix path or host:port of the responder we run (absent with binPath) */
  backend?: string
  /** lighttpd spawns the back end: this command line, listening on the socket lighttpd creates */
  binPath?: { command: string; transport: 'unix' | 'tcp'; env?: Record<string, string> }
  /** put our server in front as "mode" => "authorizer" for /protected/ */
  authorizer?: boolean
  /** the authorizer's address when it is not the responder's (host:port or unix path) */
  authorizerAddress?: string
}

export interface Lighttpd extends FrontEnd {
  /** pids of the back-end processes lighttpd spawned (bin-path) */
  spawned(): number[]
}

function backendConf(address: string): string {
  if (address.startsWith('/')) return `"socket" => "${address}"`
  const [host, port] = address.split(':')
  return `"host" => "${host}", "port" => ${port}`
}

export async function startLighttpd(o: LighttpdOptions): Promise<Lighttpd> {
  const dir = tempDir('lighttpd')
  const port = await freePort()
  let target: string
  if (o.binPath) {
    const where = o.binPath.transport === 'unix' ? `"socket" => "${dir}/app.sock"` : `"host" => "127.0.0.1", "port" => ${await freePort()}`
    const env = Object.entries(o.binPath.env ?? {})
      .map(([k, v]) => `"${k}" => "${v}"`)
      .join(', ')
    target = `${where}, "bin-path" => "${o.binPath.command}", "max-procs" => 1, "bin-environment" => ( ${env} ), "bin-copy-environment" => ( "PATH", "HOME", "FCGI_ENGINE" )`
  } else target = backendConf(o.backend!)
  const responder = `"/" => (( ${target}, "check-local" => "disable" ))`
  const authTarget = o.authorizerAddress ? backendConf(o.authorizerAddress) : target
  const authorizer = o.authorizer ? `"/protected/" => (( ${authTarget}, "mode" => "authorizer", "check-local" => "disable" )),` : ''
  const conf = `
server.document-root = "${dir}"
server.bind = "127.0.0.1"
server.port = ${port}
server.pid-file = "${dir}/lighttpd.pid"
server.errorlog = "${dir}/error.log"
server.upload-dirs = ( "${dir}" )
server.max-request-size = 204800
server.modules = ( "mod_fastcgi" )
fastcgi.server = ( ${authorizer} ${responder} )
`
  writeFileSync(join(dir, 'lighttpd.conf'), conf)
  const fe = await startProcess(which('lighttpd')!, ['-D', '-f', join(dir, 'lighttpd.conf')], {
    port,
    dir,
    logFile: join(dir, 'error.log'),
  })
  const spawned = () => childrenOf(fe.pid)
  return {
    ...fe,
    spawned,
    async stop() {
      const kids = spawned()
      await fe.stop()
      for (const pid of kids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
    },
  }
}

/** Direct children of a process, from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(name))
    } catch {}
  }
  return out
}

/** The command line lighttpd's bin-path runs: our CLI serving the interop app on fd 0. */
export function cliCommand(engine: string): string {
  const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
  return `${process.execPath} ${root}/bin/fcgi.js serve ${root}/__test__/interop/app.ts --listen fd:0 --engine ${engine}`
}
