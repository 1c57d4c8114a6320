// nginx as a FastCGI front end, configured in a temp dir and run in the foreground.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startProcess, tempDir, which, type FrontEnd } from './harness.ts'

export interface NginxOptions {
  /** unix path or host:port of the back end */
  backend?: string
  /** several back ends: an upstream group (nginx fails over to the next on connection errors) */
  backends?: string[]
  /** upstream keepalive + fastcgi_keep_conn on */
  keepConn: boolean
  /** fastcgi_request_buffering (default on) */
  requestBuffering?: boolean
  /** fastcgi_read_timeout (default 20s) */
  readTimeout?: string
}

export async function startNginx(o: NginxOptions): Promise<FrontEnd> {
  const dir = tempDir('nginx')
  const port = await freePort()
  const servers = (o.backends ?? [o.backend!])
    .map((b) => `server ${b.startsWith('/') ? `unix:${b}` : b} max_fails=1 fail_timeout=1s;`)
    .join('\n    ')
  const conf = nginxConfig(
    dir,
    `access_log off;
  client_max_body_size 200m;
  upstream app {
    ${servers}
    ${o.keepConn ? 'keepalive 8;' : ''}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_pass app;
      fastcgi_keep_conn ${o.keepConn ? 'on' : 'off'};
      fastcgi_request_buffering ${o.requestBuffering === false ? 'off' : 'on'};
      fastcgi_read_timeout ${o.readTimeout ?? '20s'};
      fastcgi_connect_timeout 2s;
    }
  }`,
  )
  return runNginx(dir, port, conf)
}

/** A foreground nginx.conf whose state (pid, logs, temp files) stays in `dir`; `http` is the
 * http block's content. */
export function nginxConfig(dir: string, http: string): string {
  return `
daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 1024; }
http {
  client_body_temp_path ${dir}/body;
  fastcgi_temp_path ${dir}/fastcgi;
  proxy_temp_path ${dir}/proxy;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${http}
}
`
}

export function runNginx(dir: string, port: number, conf: string): Promise<FrontEnd> {
  writeFileSync(join(dir, 'nginx.conf'), conf)
  return startProcess(which('nginx')!, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], {
    port,
    dir,
    logFile: join(dir, 'error.log'),
  })
}
