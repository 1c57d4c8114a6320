// Real Express 4 and 5 apps under nodeHandler, on both engines, over FastCGI and HTTP: routing,
// body parsers (JSON, urlencoded, multipart via multer), cookies, redirects, sendFile and
// express.static (conditional and range requests), streaming with backpressure, errors.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, test } from 'node:test'
import compression from 'compression'
import cookieParser from 'cookie-parser'
import express4 from 'express'
import express5 from 'express5'
import morgan from 'morgan'
import multer from 'multer'
import { FcgiClient, nodeHandler, serveFcgi, serveHttp } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { tempSocketPath } from './helpers/server.ts'
import { multipart, PROTOCOLS, serveBoth, type Served } from './helpers/both-protocols.ts'

const dir = mkdtempSync(join(tmpdir(), 'fcgi-express-'))
writeFileSync(join(dir, 'a.txt'), 'static file body\n')
const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x')
writeFileSync(join(dir, 'big.bin'), big)
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
after(() => rmSync(dir, { recursive: true, force: true }))

type ExpressModule = typeof express4
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 8 * 1024 * 1024 } })

function buildApp(express: ExpressModule, version: 4 | 5, accessLines: string[]) {
  const app = express()
  app.set('env', 'test') // finalhandler: no error log on stderr
  // morgan waits for the response's end (on-finished) and reads res._header and the status
  app.use(morgan(':method :url :status :res[content-length] :response-time', { stream: { write: (l: string) => accessLines.push(l) } }))
  app.use(compression({ threshold: 1024 }))
  app.use(cookieParser('secret'))
  app.get('/big-json', (_req, res) => res.json({ items: Array.from({ length: 500 }, (_, i) => ({ i, text: 'compressible' })) }))
  app.get('/hello/:name', (req, res) => {
    res.json({ name: req.params.name, query: req.query, ip: req.ip, protocol: req.protocol, hostname: req.hostname, version })
  })
  app.post('/json', express.json(), (req, res) => res.json({ got: req.body }))
  app.post('/form', express.urlencoded({ extended: false }), (req, res) => res.json({ got: req.body }))
  app.post('/upload', upload.single('file'), (req, res) => {
    const f = req.file!
    res.json({ field: req.body.field, name: f.originalname, size: f.size, sha: sha(f.buffer), type: f.mimetype })
  })
  app.get('/cookies', (req, res) => {
    res.cookie('plain', 'p1', { httpOnly: true, path: '/' })
    res.cookie('signed', 's1', { signed: true })
    res.json({ cookies: req.cookies, signed: req.signedCookies })
  })
  app.get('/redirect', (_req, res) => res.redirect('/hello/redirected'))
  app.get('/moved', (_req, res) => res.redirect(301, 'https://example.com/elsewhere'))
  app.get('/file', (_req, res) => res.sendFile(join(dir, 'a.txt')))
  app.get('/file-missing', (_req, res, next) => res.sendFile(join(dir, 'nope.txt'), (err) => next(err)))
  app.use('/static', express.static(dir))
  app.get('/stream', async (_req, res) => {
    res.type('text/plain')
    for (let i = 0; i < 5; i++) {
      res.write(`chunk ${i}\n`)
      await new Promise((r) => setTimeout(r, 5))
    }
    res.end('done\n')
  })
  app.get('/piped', (_req, res) => {
    res.type('application/octet-stream')
    // 3 MiB through pipe(): backpressure from the engine pauses the source
    Readable.from((function* () {
      for (let i = 0; i < 48; i++) yield Buffer.alloc(64 * 1024, i)
    })()).pipe(res)
  })
  app.get('/throw', () => {
    throw new Error('route threw')
  })
  app.get('/async-throw', async () => {
    await new Promise((r) => setTimeout(r, 1))
    throw new Error('async route threw')
  })
  app.get('/next-error', (_req, _res, next) => next(Object.assign(new Error('teapot'), { status: 418 })))
  app.get('/write-head', (_req, res) => {
    res.writeHead(201, 'Made', { 'X-Made': 'yes' })
    res.end('made')
  })
  app.get('/headers', (req, res) => {
    res.set('X-Multi', ['a', 'b'])
    res.json({ custom: req.get('x-custom'), headersSent: res.headersSent })
  })
  return app
}

for (const [name, express, version] of [['express 4', express4, 4], ['express 5', express5 as unknown as ExpressModule, 5]] as const) {
  for (const protocol of PROTOCOLS) {
    forEachEngine(`${name} over ${protocol}`, (engine) => {
      let s: Served
      const accessLines: string[] = []
      before(async () => {
        s = await serveBoth(protocol, engine, nodeHandler(buildApp(express, version, accessLines)))
      })
      after(() => s?.close())

      test('routing, params, query, req.ip and req.protocol', async () => {
        const r = await s.call({ path: '/hello/w%C3%B6rld?a=1&b=two', headers: { host: 'app.test' } })
        assert.equal(r.status, 200)
        assert.match(r.headers['content-type'], /^application\/json/)
        const j = JSON.parse(r.text)
        assert.deepEqual(j, { name: 'wörld', query: { a: '1', b: 'two' }, ip: '127.0.0.1', protocol: 'http', hostname: 'app.test', version })
        assert.equal(r.headers['content-length'], String(r.body.length))
      })

      test('unknown route: Express 404', async () => {
        const r = await s.call({ path: '/nowhere' })
        assert.equal(r.status, 404)
        assert.match(r.text, /Cannot GET \/nowhere/)
      })

      test('HEAD: the head without a body', async () => {
        const r = await s.call({ method: 'HEAD', path: '/hello/x' })
        assert.equal(r.status, 200)
        assert.equal(r.body.length, 0)
        assert.match(r.headers['content-type'], /json/)
      })

      test('express.json and express.urlencoded', async () => {
        const j = await s.call({ method: 'POST', path: '/json', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'ü' }) })
        assert.deepEqual(JSON.parse(j.text), { got: { a: [1, 2], b: 'ü' } })
        const f = await s.call({ method: 'POST', path: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1&y=h%C3%A9' })
        assert.deepEqual(JSON.parse(f.text), { got: { x: '1', y: 'hé' } })
        const bad = await s.call({ method: 'POST', path: '/json', headers: { 'content-type': 'application/json' }, body: '{nope' })
        assert.equal(bad.status, 400)
      })

      test('multipart upload through multer', async () => {
        const file = Buffer.alloc(700 * 1024 + 3, 'f')
        const form = new FormData()
        form.append('field', 'value')
        form.append('file', new Blob([file], { type: 'application/x-test' }), 'up.bin')
        const { body, contentType } = await multipart(form)
        const r = await s.call({ method: 'POST', path: '/upload', headers: { 'content-type': contentType }, body })
        assert.equal(r.status, 200, r.text)
        assert.deepEqual(JSON.parse(r.text), { field: 'value', name: 'up.bin', size: file.length, sha: sha(file), type: 'application/x-test' })
      })

      test('cookie-parser in, res.cookie out (plain and signed)', async () => {
        const first = await s.call({ path: '/cookies' })
        assert.equal(first.cookies.length, 2)
        assert.match(first.cookies[0], /^plain=p1; Path=\/; HttpOnly$/)
        assert.match(first.cookies[1], /^signed=s%3As1\./)
        const cookie = first.cookies.map((c) => c.split(';')[0]).join('; ')
        const second = await s.call({ path: '/cookies', headers: { cookie } })
        assert.deepEqual(JSON.parse(second.text), { cookies: { plain: 'p1' }, signed: { signed: 's1' } })
      })

      test('redirects', async () => {
        const r = await s.call({ path: '/redirect' })
        assert.equal(r.status, 302)
        assert.equal(r.headers.location, '/hello/redirected')
        const m = await s.call({ path: '/moved' })
        assert.equal(m.status, 301)
        assert.equal(m.headers.location, 'https://example.com/elsewhere')
      })

      test('res.sendFile with ETag and a conditional GET', async () => {
        const r = await s.call({ path: '/file' })
        assert.equal(r.status, 200)
        assert.equal(r.text, 'static file body\n')
        assert.match(r.headers['content-type'], /^text\/plain/)
        assert.ok(r.headers.etag && r.headers['last-modified'])
        const again = await s.call({ path: '/file', headers: { 'if-none-match': r.headers.etag } })
        assert.equal(again.status, 304)
        assert.equal(again.body.length, 0)
        const missing = await s.call({ path: '/file-missing' })
        assert.equal(missing.status, 404)
      })

      test('express.static: a file, a range, a large file intact', async () => {
        const r = await s.call({ path: '/static/a.txt' })
        assert.equal(r.text, 'static file body\n')
        const range = await s.call({ path: '/static/a.txt', headers: { range: 'bytes=0-5' } })
        assert.equal(range.status, 206)
        assert.equal(range.text, 'static')
        assert.equal(range.headers['content-range'], 'bytes 0-5/17')
        const b = await s.call({ path: '/static/big.bin' })
        assert.equal(b.body.length, big.length)
        assert.equal(sha(b.body), sha(big))
      })

      test('streaming: res.write over time, and a piped 3 MiB stream', async () => {
        const r = await s.call({ path: '/stream' })
        assert.equal(r.text, 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\ndone\n')
        const p = await s.call({ path: '/piped' })
        assert.equal(p.body.length, 48 * 64 * 1024)
        for (let i = 0; i < 48; i++) assert.equal(p.body[i * 64 * 1024], i)
      })

      test('a route that throws gets Express\'s 500; next(err) keeps its status', async () => {
        const r = await s.call({ path: '/throw' })
        assert.equal(r.status, 500)
        assert.match(r.text, /route threw/)
        const t = await s.call({ path: '/next-error' })
        assert.equal(t.status, 418)
      })

      if (version === 5) {
        test('an async route that rejects gets a 500 (Express 5)', async () => {
          const r = await s.call({ path: '/async-throw' })
          assert.equal(r.status, 500)
        })
      }

      test('compression gzips a large body; morgan logs each request when it ends', async () => {
        accessLines.length = 0
        const r = await s.call({ path: '/big-json', headers: { 'accept-encoding': 'gzip' } })
        assert.equal(r.headers['content-encoding'], 'gzip')
        const items = JSON.parse(gunzipSync(r.body).toString()).items
        assert.equal(items.length, 500)
        const plain = await s.call({ path: '/big-json' })
        assert.equal(plain.headers['content-encoding'], undefined)
        assert.equal(JSON.parse(plain.text).items.length, 500)
        await s.call({ path: '/nowhere' })
        const deadline = Date.now() + 2000
        while (accessLines.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
        assert.match(accessLines[0], /^GET \/big-json 200 - \d+\.\d+\n$/) // gzip: streamed, no length
        assert.match(accessLines[1], new RegExp(`^GET /big-json 200 ${plain.body.length} \\d+\\.\\d+\\n$`))
        assert.match(accessLines[2], /^GET \/nowhere 404 \d+ \d+\.\d+\n$/)
      })

      test('writeHead with a reason and headers, res.set arrays, request headers', async () => {
        const r = await s.call({ path: '/write-head' })
        assert.equal(r.status, 201)
        assert.equal(r.headers['x-made'], 'yes')
        assert.equal(r.text, 'made')
        const h = await s.call({ path: '/headers', headers: { 'x-custom': 'c1' } })
        assert.equal(h.headers['x-multi'], 'a, b')
        assert.deepEqual(JSON.parse(h.text), { custom: 'c1', headersSent: false })
      })
    })
  }
}

forEachEngine('serveFcgi and serveHttp take { listener }', (engine) => {
  test('an Express app passed as the listener', async () => {
    const app = express5()
    app.get('/', (_req, res) => res.send('direct'))
    const fcgi = await serveFcgi({ listener: app, listen: tempSocketPath(), engine, logger: () => {} })
    const http = await serveHttp({ listener: app, listen: 0, engine, logger: () => {} })
    const client = new FcgiClient(fcgi.address)
    try {
      assert.equal((await client.request({ path: '/' })).body.toString(), 'direct')
      const port = http.address.type === 'tcp' ? http.address.port : 0
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'direct')
    } finally {
      client.close()
      await fcgi.close()
      await http.close()
    }
  })
})
