// An Express app served over FastCGI (and HTTP) unchanged, through nodeHandler:
//   fcgi serve examples/express.ts --listen 9000 --http 8080
// then put nginx, Caddy or Apache in front (examples/frontends/).
import express from 'express'
import { nodeHandler } from 'fcgi'

const app = express()
app.set('trust proxy', 'loopback') // X-Forwarded-* from a front end on this machine
app.use(express.json())

app.get('/', (req, res) => {
  res.type('text/plain').send(`Hello from Express, ${req.ip} asked for ${req.originalUrl}\n`)
})
app.get('/hello/:name', (req, res) => {
  res.json({ hello: req.params.name, query: req.query })
})
app.post('/echo', (req, res) => {
  res.json({ got: req.body })
})
app.get('/old', (_req, res) => res.redirect(301, '/'))

export default nodeHandler(app)
