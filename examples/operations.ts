// PHP-FPM-style operations: a status page, an access log and a slowlog around any handler.
//   node --import tsx examples/operations.ts
// then: fcgi request 127.0.0.1:9000 '/status?full'   or   curl 'localhost:8080/status?json'
import { serveFcgi, serveHttp, type Handler, type ServeOptions } from 'fcgi'

const handler: Handler = async (req, res) => {
  if (req.url.startsWith('/slow')) await new Promise((r) => setTimeout(r, 1500))
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.end(`Hello from ${req.method} ${req.url}\n`)
}

const options = {
  handler,
  status: { path: '/status', pool: 'example' }, // restrict it in the front end (see README)
  accessLog: 'combined', // one line per request on stdout; 'json' for JSON lines
  slowlog: { thresholdMs: 1000 }, // /slow is logged while it runs, and when it ends
} satisfies Omit<ServeOptions, 'listen'>

const fcgi = await serveFcgi({ ...options, listen: '127.0.0.1:9000' })
const http = await serveHttp({ ...options, listen: '127.0.0.1:8080' })
console.error(`FastCGI on 127.0.0.1:9000, HTTP on http://127.0.0.1:8080/ (${fcgi.engine} engine)`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void Promise.all([fcgi.close(), http.close()]))
}
