// The smallest app: `fcgi serve examples/hello.ts` (or `npm start`).
import type { Handler } from 'fcgi'

const hello: Handler = (req, res) => {
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.end(`Hello from ${req.method} ${req.url}\n`)
}

export default hello
