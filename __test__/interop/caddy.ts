// Caddy 2 as a FastCGI front end (reverse_proxy with transport fastcgi): a Caddyfile in a temp
// dir, `caddy run` in the foreground with the admin endpoint off, automatic HTTPS off, and its
// config/data dirs and log file inside the temp dir.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startProcess, tempDir, which, type FrontEnd } from './harness.ts'

export async function startCaddy(o: { backend: string }): Promise<FrontEnd> {
  const dir = tempDir('caddy')
  const port = await freePort()
  const upstream = o.backend.startsWith('/') ? `unix/${o.backend}` : o.backend
  // level DEBUG: even then, Caddy 2.6 logs nothing of the back end's FCGI_STDERR
  const conf = `{
	admin off
	auto_https off
	log {
		output file ${dir}/caddy.log
		level DEBUG
	}
}
http://127.0.0.1:${port} {
	reverse_proxy ${upstream} {
		transport fastcgi {
			read_timeout 20s
			dial_timeout 2s
		}
	}
}
`
  writeFileSync(join(dir, 'Caddyfile'), conf)
  return startProcess(which('caddy')!, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    port,
    dir,
    logFile: join(dir, 'caddy.log'),
    env: { ...process.env, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, HOME: dir },
  })
}
