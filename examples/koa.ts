// A Koa app served over FastCGI (and HTTP) through nodeHandler(app.callback()):
//   fcgi serve examples/koa.ts --listen 9000 --http 8080
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa from 'koa'
import { nodeHandler } from 'fcgi'

const app = new Koa()
const router = new Router()
router.get('/', (ctx) => {
  ctx.body = `Hello from Koa, ${ctx.ip} asked for ${ctx.url}\n`
})
router.get('/hello/:name', (ctx) => {
  ctx.body = { hello: ctx.params.name, query: ctx.query }
})
router.post('/echo', (ctx) => {
  ctx.body = { got: (ctx.request as unknown as { body: unknown }).body }
})
app.use(bodyParser()).use(router.routes()).use(router.allowedMethods())

export default nodeHandler(app.callback())
