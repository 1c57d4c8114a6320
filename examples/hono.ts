// A Hono app (fetch style) over FastCGI and HTTP:
//   fcgi serve examples/hono.ts --listen 9000 --http 8080
import { Hono } from 'hono'

const app = new Hono()
app.get('/', (c) => c.text(`Hello from Hono, you asked for ${new URL(c.req.url).pathname}\n`))
app.get('/hello/:name', (c) => c.json({ hello: c.req.param('name'), query: c.req.query() }))
app.post('/echo', async (c) => c.json({ got: await c.req.json() }))

export default { fetch: app.fetch }
