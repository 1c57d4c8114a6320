// The back ends under test, how to prepare and start each, and the nginx front end.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { processTree, startProcess, waitConnectable, which, type Started } from './proc.ts'

export type Protocol = 'fcgi' | 'http'
export type Transport = 'unix' | 'tcp'

export interface Env {
  root: string
  bin: string
  tmp: string
  node: string
  nginx: string | null
  wrk: string | null
  go: string | null
  phpFpm: string | null
  nativeError: string | null
  nativeHttpError: string | null
}

export interface Running {
  name: string
  /** Where the load generator (or nginx) connects: `unix:/path` or `127.0.0.1:port`. */
  address: string
  /** The processes whose CPU and memory count (php-fpm: master and children). */
  pids(): number[]
  stop(): Promise<void>
}

export interface Backend {
  name: string
  protocol: Protocol
  /** Shown under the tables. */
  description: string
  /** Does the server hold kept connections open across requests? (php-fpm: a child per connection.) */
  keepConn: boolean
  /** Why it cannot run here, or null. */
  unavailable(env: Env): string | null
  start(env: Env, address: string): Promise<Running>
}

function logFile(env: Env, name: string): string {
  return join(env.tmp, `${name}.log`)
}

function simple(name: string, started: Started, address: string): Running {
  return { name, address, pids: () => [started.pid], stop: () => started.stop() }
}

/** Extra node flags for the engine back ends, e.g. BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
function nodeFlags(): string[] {
  return (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)
}

function engineBackend(engine: 'native' | 'js', protocol: Protocol): Backend {
  const name = protocol === 'http' ? `${engine} serveHttp` : engine
  return {
    name,
    protocol,
    keepConn: true,
    description:
      engine === 'native'
        ? `fcgi native engine (Rust/Tokio core, ${process.env.FCGI_NATIVE_THREADS ?? 1} I/O thread + the JS thread), bench/servers/native.mjs`
        : 'fcgi js engine (TypeScript on node:net / node:http), bench/servers/js.mjs',
    unavailable: (env) =>
      engine === 'native' ? (protocol === 'http' ? env.nativeHttpError : env.nativeError) : null,
    async start(env, address) {
      const started = await startProcess(
        env.node,
        [...nodeFlags(), join(env.root, `bench/servers/${engine}.mjs`), '--listen', address, '--protocol', protocol],
        { logFile: logFile(env, name.replace(' ', '-')), env: { ...process.env, FCGI_ENGINE: undefined } },
      )
      return simple(name, started, address)
    },
  }
}

export const native = engineBackend('native', 'fcgi')
export const js = engineBackend('js', 'fcgi')
export const nativeHttp = engineBackend('native', 'http')
export const jsHttp = engineBackend('js', 'http')

export const ceiling: Backend = {
  name: 'rust ceiling',
  protocol: 'fcgi',
  keepConn: true,
  description: 'fcgi-ceiling: fcgi-proto on Tokio (1 worker thread) with the handlers in Rust (crates/fcgi-bench)',
  unavailable: (env) => (existsSync(join(env.bin, 'fcgi-ceiling')) ? null : 'fcgi-ceiling is not built'),
  async start(env, address) {
    const started = await startProcess(join(env.bin, 'fcgi-ceiling'), ['--listen', address, '--threads', '1'], {
      logFile: logFile(env, 'ceiling'),
    })
    return simple(this.name, started, address)
  },
}

export const nodeFastcgi: Backend = {
  name: 'node-fastcgi',
  protocol: 'fcgi',
  keepConn: true,
  description: 'npm node-fastcgi 2.0.0 (http-like API), bench/peers/node-fastcgi.cjs',
  unavailable: (env) =>
    existsSync(join(env.root, 'bench/peers/node_modules/node-fastcgi')) ? null : 'node-fastcgi could not be installed',
  async start(env, address) {
    const started = await startProcess(env.node, [join(env.root, 'bench/peers/node-fastcgi.cjs'), '--listen', address], {
      logFile: logFile(env, 'node-fastcgi'),
    })
    return simple(this.name, started, address)
  },
}

export const nodeHttp: Backend = {
  name: 'node:http',
  protocol: 'http',
  keepConn: true,
  description: 'plain node:http server, bench/peers/node-http.cjs',
  unavailable: () => null,
  async start(env, address) {
    const started = await startProcess(env.node, [join(env.root, 'bench/peers/node-http.cjs'), '--listen', address], {
      logFile: logFile(env, 'node-http'),
    })
    return simple(this.name, started, address)
  },
}

function goBinary(env: Env): string {
  return join(env.root, 'bench/peers/.build/go-server')
}

function goBackend(mode: Protocol): Backend {
  return {
    name: mode === 'fcgi' ? 'go net/http/fcgi' : 'go net/http',
    protocol: mode,
    keepConn: true,
    description: `Go ${mode === 'fcgi' ? 'net/http/fcgi' : 'net/http'} (standard library, GOMAXPROCS = all cores), bench/peers/go/main.go`,
    unavailable: (env) => (existsSync(goBinary(env)) ? null : env.go ? 'the Go peer did not build' : 'go is not installed'),
    async start(env, address) {
      const started = await startProcess(goBinary(env), ['-mode', mode, '-listen', address], {
        logFile: logFile(env, `go-${mode}`),
      })
      return simple(this.name, started, address)
    },
  }
}

export const goFcgi = goBackend('fcgi')
export const goHttp = goBackend('http')

function phpBackend(children: number): Backend {
  return {
    name: `php-fpm ×${children}`,
    protocol: 'fcgi',
    // A php-fpm child serves one connection at a time, for as long as it stays open.
    keepConn: false,
    description: `PHP-FPM 8.2 (Debian), pm = static, ${children} ${children === 1 ? 'child' : 'children'}, opcache as packaged, bench/peers/php/bench.php`,
    unavailable: (env) => (env.phpFpm ? null : 'php-fpm8.2 is not installed'),
    async start(env, address) {
      const dir = join(env.tmp, `php-fpm-${children}`)
      mkdirSync(dir, { recursive: true })
      const listen = address.startsWith('unix:') ? address.slice(5) : address
      const conf = join(dir, 'php-fpm.conf')
      writeFileSync(
        conf,
        [
          '[global]',
          `pid = ${dir}/php-fpm.pid`,
          `error_log = ${dir}/error.log`,
          'daemonize = no',
          'log_level = warning',
          '[bench]',
          'user = root',
          'group = root',
          `listen = ${listen}`,
          'listen.backlog = 4096',
          'pm = static',
          `pm.max_children = ${children}`,
          'pm.max_requests = 0',
          'catch_workers_output = no',
          'request_terminate_timeout = 0',
          `php_admin_value[error_log] = ${dir}/php-error.log`,
          'php_admin_value[memory_limit] = 256M',
          'php_admin_value[post_max_size] = 2G',
          '',
        ].join('\n'),
      )
      const started = await startProcess(env.phpFpm!, ['-F', '-R', '-y', conf], {
        logFile: logFile(env, `php-fpm-${children}`),
        ready: address,
        stopSignal: 'SIGQUIT',
      })
      return {
        name: this.name,
        address,
        pids: () => processTree(started.pid),
        stop: () => started.stop(),
      }
    },
  }
}

export const php2 = phpBackend(2)
export const php1 = phpBackend(1)

export const FCGI_BACKENDS = [native, js, ceiling, nodeFastcgi, goFcgi, php2, php1]
export const HTTP_BACKENDS = [nativeHttp, jsHttp, nodeHttp, goHttp]

/** Builds what needs building; returns a note per peer that could not be prepared. */
export function preparePeers(env: Env, log: (line: string) => void): void {
  const peers = join(env.root, 'bench/peers')
  if (!existsSync(join(peers, 'node_modules/node-fastcgi'))) {
    log('installing node-fastcgi into bench/peers/node_modules')
    const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: peers,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    if (npm.status !== 0) log('npm install in bench/peers failed')
  }
  if (env.go) {
    const src = join(peers, 'go/main.go')
    const out = goBinary(env)
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
      log('building the Go peer')
      mkdirSync(join(peers, '.build'), { recursive: true })
      const goEnv: NodeJS.ProcessEnv = { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' }
      if (!goEnv.HOME) goEnv.GOCACHE = join(env.tmp, 'gocache')
      const build = spawnSync(env.go, ['build', '-o', out, '.'], {
        cwd: join(peers, 'go'),
        env: goEnv,
        stdio: ['ignore', 'inherit', 'inherit'],
      })
      if (build.status !== 0) log('go build failed')
    }
  }
}

export function findTools(): Pick<Env, 'nginx' | 'wrk' | 'go' | 'phpFpm'> {
  return {
    nginx: which('nginx', ['/usr/sbin']),
    wrk: which('wrk'),
    go: which('go', ['/usr/local/go/bin', '/usr/lib/go/bin']),
    phpFpm: which('php-fpm8.2', ['/usr/sbin']) ?? which('php-fpm', ['/usr/sbin']),
  }
}

/** nginx with 1 worker in front of `upstream`, `fastcgi_keep_conn on`, listening on `port`. */
export async function startNginx(env: Env, name: string, upstream: string, port: number): Promise<Running> {
  const dir = join(env.tmp, `nginx-${name.replace(/[^a-z0-9]+/gi, '-')}`)
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'nginx.conf')
  const script = join(env.root, 'bench/peers/php/bench.php')
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  fastcgi_temp_path ${dir}/fastcgi;
  proxy_temp_path ${dir}/proxy;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  client_max_body_size 2g;
  client_body_buffer_size 128k;
  upstream backend {
    server ${upstream};
    keepalive 32;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME ${script};
      fastcgi_pass backend;
      fastcgi_keep_conn on;
      fastcgi_buffer_size 64k;
      fastcgi_buffers 32 64k;
      fastcgi_busy_buffers_size 128k;
      fastcgi_max_temp_file_size 0;
    }
  }
}
`,
  )
  const address = `127.0.0.1:${port}`
  const started = await startProcess(env.nginx!, ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')], {
    logFile: join(dir, 'stdout.log'),
    ready: address,
    stopSignal: 'SIGTERM',
  })
  await waitConnectable(address, 5000)
  return { name: 'nginx', address, pids: () => processTree(started.pid), stop: () => started.stop() }
}
