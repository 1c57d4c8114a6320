// The server under soak (scripts/soak.ts starts it as its own process, so that its RSS and open
// descriptors are the server's alone): one engine, one protocol, on 127.0.0.1 at a free port.
//
//   node --import tsx scripts/soak-server.ts <js|native> <fcgi|http>
//
// Prints `port <n>` once listening; closes gracefully on SIGTERM.
import { serveFcgi, serveHttp } from 'fcgi'
import type { EngineName, Handler } from 'fcgi'

const engine = process.argv[2] as EngineName
const protocol = process.argv[3]
const MiB = 1024 * 1024

const handler: Handler = async (req, res) => {
  const u = new URL(req.url, 'http://x')
  switch (u.pathname) {
    case '/upload': {
      let n = 0
      for await (const chunk of req.stdin) n += chunk.length
      res.end(String(n))
      return
    }
    case '/refuse': // an early answer: the body is never read
      res.status = 413
      res.end('too large\n')
      return
    case '/download': {
      const n = Math.min(Number(u.searchParams.get('n') ?? MiB), 64 * MiB)
      const chunk = Buffer.alloc(64 * 1024, 'd')
      for (let sent = 0; sent < n && !req.signal.aborted; sent += chunk.length) {
        if (!res.write(chunk.subarray(0, Math.min(chunk.length, n - sent)))) await res.drain()
      }
      res.end()
      return
    }
    case '/slow': {
      const ms = Math.min(Number(u.searchParams.get('ms') ?? 200), 5000)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms)
        req.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
      })
      res.end('slow\n')
      return
    }
    case '/throw':
      throw new Error('soak: a throwing handler')
    default:
      res.end('hello\n')
  }
}

const serve = protocol === 'http' ? serveHttp : serveFcgi
// a short idle timeout, so that the descriptor count after the load sees every connection
// closed; not shorter: the load's FastCGI client reuses idle connections, and one the server
// closes just then fails a request (as it would behind a front end)
const server = await serve({ engine, handler, listen: '127.0.0.1:0', idleTimeout: 3000, logger: () => {} })
if (server.address.type !== 'tcp') throw new Error('expected a TCP address')
process.stdout.write(`port ${server.address.port}\n`)
process.on('SIGTERM', () => {
  void server.close({ timeout: 2000 }).then(() => process.exit(0))
})
