// One handler module that runs unchanged over FastCGI and HTTP:
//   fcgi serve examples/echo.ts --listen 9000 --http 8080
// GET /       → a greeting with the query parameters
// POST /echo  → the request body back, with its length and SHA-256
// GET /json   → what the request looked like, as JSON
import { createHash } from 'node:crypto'
import type { Handler } from 'fcgi'

const echo: Handler = async (req, res) => {
  const url = new URL(req.url, 'http://localhost')
  if (url.pathname === '/echo') {
    const body = await req.bytes()
    res.setHeader('Content-Type', req.headers['content-type'] ?? 'application/octet-stream')
    res.setHeader('X-Body-Length', String(body.length))
    res.setHeader('X-Body-Sha256', createHash('sha256').update(body).digest('hex'))
    res.end(body)
    return
  }
  if (url.pathname === '/json') {
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify({
      method: req.method,
      url: req.url,
      query: req.params.QUERY_STRING,
      contentType: req.headers['content-type'] ?? null,
      custom: req.headers['x-custom'] ?? null,
      cookie: req.headers.cookie ?? null,
    }))
    return
  }
  if (url.pathname !== '/') {
    res.status = 404
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    res.end('not found\n')
    return
  }
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.setHeader('Set-Cookie', ['a=1', 'b=2'])
  res.end(`hello ${[...url.searchParams].map(([k, v]) => `${k}=${v}`).join(' ')}\n`)
}

export default echo
