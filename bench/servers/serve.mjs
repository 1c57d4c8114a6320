// Starts the bench handler on one engine: `node bench/servers/<engine>.mjs
// --listen <unix path|host:port> [--protocol fcgi|http]`. Prints `READY <address as JSON>` once
// listening, closes on SIGTERM/SIGINT.
import { serveFcgi, serveHttp } from 'fcgi'
import { handler } from './app.mjs'

/** @param {import('fcgi').EngineName} engine */
export async function main(engine) {
  const argv = process.argv.slice(2)
  /** @type {(name: string, fallback?: string) => string | undefined} */
  const arg = (name, fallback) => {
    const i = argv.indexOf(`--${name}`)
    return i === -1 ? fallback : argv[i + 1]
  }
  const listenText = arg('listen', 'fcgi.sock') ?? 'fcgi.sock'
  const listen = /^\d+$/.test(listenText) ? Number(listenText) : listenText
  const protocol = arg('protocol', 'fcgi')
  const serve = protocol === 'http' ? serveHttp : serveFcgi
  const server = await serve({
    engine,
    listen,
    handler,
    // The idle-connections test holds 10 000 of them; leave headroom.
    maxConns: 20_000,
    idleTimeout: 600_000,
    logger: (level, message) => {
      if (level !== 'info') process.stderr.write(`${engine}: ${level}: ${message}\n`)
    },
  })
  process.stdout.write(`READY ${JSON.stringify({ engine: server.engine, address: server.address })}\n`)
  const stop = () => {
    server.close({ timeout: 1000 }).then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}
