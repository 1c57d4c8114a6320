// FastCGI 1.0 over real sockets, raw bytes in and exact records out, on both engines.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Type, decodePairs, encodePairs } from '../lib/fastcgi/codec.ts'
import type { Handler } from 'fcgi'
import { forEachEngine } from './helpers/engines.ts'
import { RawConnection, begin, endRequest, params, rec, request, stdin, stdoutOf } from './helpers/raw.ts'
import { startFcgi, type TestServer } from './helpers/server.ts'

const echo: Handler = async (req, res) => {
  const body = await req.text()
  res.setHeader('Content-Type', 'text/plain')
  res.end(`${req.method} ${req.url} role=${req.role} id=${req.id} body=${body}`)
}

forEachEngine('FastCGI protocol', (engine) => {
  for (const transport of ['unix', 'tcp'] as const) {
    test(`responder over ${transport}: id echoed, terminators, END_REQUEST`, async () => {
      const t = await startFcgi(engine, echo, { transport })
      try {
        const c = new RawConnection(t.connectTo)
        c.write(request(7, '/a?b=c', { method: 'POST', body: 'hello' }))
        const recs = await c.endOf(7)
        assert.ok(recs.every((r) => r.id === 7), 'every record carries request id 7')
        const out = stdoutOf(recs, 7)
        assert.match(out, /^Status: 200 OK\r\n/)
        assert.match(out, /\r\n\r\nPOST \/a\?b=c role=responder id=7 body=hello$/)
        const types = recs.map((r) => r.type)
        assert.deepEqual(types.slice(-2), [Type.Stdout, Type.EndRequest])
        assert.equal(recs.at(-2)!.content.length, 0, 'stdout terminated by an empty record')
        assert.deepEqual(endRequest(recs, 7), { appStatus: 0, protocolStatus: 0 })
        c.destroy()
      } finally {
        await t.close()
      }
    })
  }

  let t: TestServer
  before(async () => {
    t = await startFcgi(engine, async (req, res) => {
      const u = new URL(req.url, 'http://x')
      if (u.pathname === '/big') {
        res.end(Buffer.alloc(Number(u.searchParams.get('n')), 'x'))
        return
      }
      if (u.pathname === '/stderr') {
        res.stderr('to the error log\n')
        res.end('ok')
        return
      }
      if (u.pathname === '/wait') {
        await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()))
        waitAborted.push(String(req.signal.reason))
        return
      }
      if (u.pathname === '/params') {
        res.end(JSON.stringify(req.params))
        return
      }
      if (u.pathname === '/filter') {
        const parts: Buffer[] = []
        for await (const chunk of req.data) parts.push(chunk)
        const data = Buffer.concat(parts).toString()
        res.end(`role=${req.role} stdin=${await req.text()} data=${data}`)
        return
      }
      if (u.pathname === '/auth') {
        if (req.headers.authorization === 'Bearer good') {
          res.setHeader('Variable-User', 'alice')
          res.end()
        } else res.writeHead(403).end('denied')
        return
      }
      await echo(req, res)
    }, { maxReqs: 64 })
  })
  after(() => t.close())
  const waitAborted: string[] = []

  test('without FCGI_KEEP_CONN the connection closes after END_REQUEST', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(1, '/', { keepConn: false }))
    await c.endOf(1)
    assert.equal(await c.closesWithin(3000), true)
  })

  test('with FCGI_KEEP_CONN the connection stays open for 200 sequential requests', async () => {
    const c = new RawConnection(t.connectTo)
    for (let i = 1; i <= 200; i++) {
      c.write(request(1, `/n${i}`))
      await c.endOf(1)
      assert.match(stdoutOf(c.records.splice(0), 1), new RegExp(`GET /n${i} `))
    }
    assert.equal(c.closed, false)
    c.destroy()
  })

  test('50 multiplexed requests on one connection, interleaved records', async () => {
    const c = new RawConnection(t.connectTo)
    const ids = Array.from({ length: 50 }, (_, i) => i + 1)
    // interleave: all begins, then all params, then all stdin
    c.write(Buffer.concat(ids.map((id) => begin(id))))
    c.write(Buffer.concat(ids.map((id) => params(id, { REQUEST_METHOD: 'POST', REQUEST_URI: `/m${id}` }))))
    c.write(Buffer.concat(ids.map((id) => stdin(id, `b${id}`))))
    await c.until((recs) => recs.filter((r) => r.type === Type.EndRequest).length === 50)
    for (const id of ids) assert.match(stdoutOf(c.records, id), new RegExp(`POST /m${id} role=responder id=${id} body=b${id}$`))
    c.destroy()
  })

  test('FCGI_GET_VALUES is answered by the library', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(rec(Type.GetValues, 0, encodePairs([['FCGI_MAX_CONNS', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', ''], ['OTHER', '']])))
    const [r] = await c.until((recs) => recs.length > 0)
    assert.equal(r.type, Type.GetValuesResult)
    assert.equal(r.id, 0)
    assert.deepEqual({ ...(decodePairs(r.content) as Record<string, string>) }, { FCGI_MAX_CONNS: '10000', FCGI_MAX_REQS: '64', FCGI_MPXS_CONNS: '1' })
    c.destroy()
  })

  test('unknown record types get FCGI_UNKNOWN_TYPE and the connection goes on', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(rec(42, 0, 'x'))
    c.write(rec(200, 3, 'abc'))
    await c.until((recs) => recs.length >= 2)
    assert.deepEqual(c.records.map((r) => [r.type, r.id, r.content[0], r.content.length]), [[Type.UnknownType, 0, 42, 8], [Type.UnknownType, 0, 200, 8]])
    c.write(request(1))
    await c.endOf(1)
    c.destroy()
  })

  test('unknown role gets FCGI_UNKNOWN_ROLE', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(begin(5, { role: 9 }))
    await c.endOf(5)
    assert.deepEqual(endRequest(c.records, 5), { appStatus: 0, protocolStatus: 3 })
    c.destroy()
  })

  test('FCGI_ABORT_REQUEST aborts req.signal and ends the request with appStatus 1', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(9, '/wait'))
    await new Promise((r) => setTimeout(r, 100))
    c.write(rec(Type.AbortRequest, 9))
    await c.endOf(9)
    assert.deepEqual(endRequest(c.records, 9), { appStatus: 1, protocolStatus: 0 })
    await waitFor(() => waitAborted.length > 0)
    // the connection is still usable
    c.write(request(10, '/after'))
    await c.endOf(10)
    assert.match(stdoutOf(c.records, 10), /GET \/after/)
    c.destroy()
  })

  test('stdout is split into records of at most 65535 bytes, padded to 8', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(2, '/big?n=200001'))
    await c.endOf(2)
    const outs = c.records.filter((r) => r.type === Type.Stdout)
    assert.ok(outs.every((r) => r.content.length <= 65535))
    const raw = Buffer.concat(c.raw)
    // walk the raw bytes: every record's content+padding is a multiple of 8
    for (let off = 0; off < raw.length; ) {
      const len = raw.readUInt16BE(off + 4)
      const pad = raw[off + 6]
      assert.equal((len + pad) % 8, 0, `record at ${off} padded to 8`)
      off += 8 + len + pad
    }
    const body = stdoutOf(c.records, 2).split('\r\n\r\n')[1]
    assert.equal(body.length, 200001)
    c.destroy()
  })

  test('padding of any length 0..255 is accepted on input', async () => {
    const c = new RawConnection(t.connectTo)
    const body = encodePairs([['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/pad']])
    c.write(Buffer.concat([
      rec(Type.BeginRequest, 4, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]), 255),
      rec(Type.Params, 4, body, 0),
      rec(Type.Params, 4, '', 13),
      rec(Type.Stdin, 4, 'xyz', 200),
      rec(Type.Stdin, 4, '', 1),
    ]))
    await c.endOf(4)
    assert.match(stdoutOf(c.records, 4), /POST \/pad role=responder id=4 body=xyz$/)
    c.destroy()
  })

  test('name-value pairs with 4-byte lengths split at every byte across records', async () => {
    const long = 'v'.repeat(300)
    const pairs = encodePairs([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/params'], ['X_LONG_' + 'n'.repeat(200), long], ['E', '']])
    const c = new RawConnection(t.connectTo)
    for (let cut = 1; cut < pairs.length; cut += 37) {
      const id = cut
      c.write(begin(id))
      c.write(rec(Type.Params, id, pairs.subarray(0, cut)))
      c.write(rec(Type.Params, id, pairs.subarray(cut)))
      c.write(rec(Type.Params, id))
      c.write(stdin(id))
      await c.endOf(id)
      const got = JSON.parse(stdoutOf(c.records, id).split('\r\n\r\n')[1])
      assert.equal(got['X_LONG_' + 'n'.repeat(200)], long)
      assert.equal(got.E, '')
    }
    // one byte per record
    c.write(begin(999))
    for (const b of pairs) c.write(rec(Type.Params, 999, Buffer.from([b])))
    c.write(rec(Type.Params, 999))
    c.write(stdin(999))
    await c.endOf(999)
    assert.equal(JSON.parse(stdoutOf(c.records, 999).split('\r\n\r\n')[1]).E, '')
    c.destroy()
  })

  test('stderr goes out as FCGI_STDERR, terminated before END_REQUEST', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(request(3, '/stderr'))
    const recs = await c.endOf(3)
    const err = recs.filter((r) => r.type === Type.Stderr)
    assert.equal(Buffer.concat(err.map((r) => r.content)).toString(), 'to the error log\n')
    assert.equal(err.at(-1)!.content.length, 0)
    assert.deepEqual(recs.slice(-3).map((r) => [r.type, r.content.length]), [[Type.Stdout, 0], [Type.Stderr, 0], [Type.EndRequest, 8]])
    c.destroy()
  })

  test('filter role gets FCGI_DATA; stdin before params is kept in order', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(Buffer.concat([
      begin(6, { role: 3 }),
      rec(Type.Stdin, 6, 'early-'),
      params(6, { REQUEST_METHOD: 'GET', REQUEST_URI: '/filter' }),
      rec(Type.Stdin, 6, 'late'),
      rec(Type.Stdin, 6),
      rec(Type.Data, 6, 'file-'),
      rec(Type.Data, 6, 'data'),
      rec(Type.Data, 6),
    ]))
    await c.endOf(6)
    assert.match(stdoutOf(c.records, 6), /role=filter stdin=early-late data=file-data$/)
    c.destroy()
  })

  test('authorizer: 200 with Variable-* headers, or a denial', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(Buffer.concat([begin(1, { role: 2 }), params(1, { REQUEST_URI: '/auth', HTTP_AUTHORIZATION: 'Bearer good' })]))
    c.write(Buffer.concat([begin(2, { role: 2 }), params(2, { REQUEST_URI: '/auth' })]))
    await c.endOf(1)
    await c.endOf(2)
    assert.match(stdoutOf(c.records, 1), /^Status: 200 OK\r\nVariable-User: alice\r\n\r\n$/)
    assert.match(stdoutOf(c.records, 2), /^Status: 403 Forbidden\r\n/)
    c.destroy()
  })

  test('records for inactive request ids are ignored', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(Buffer.concat([rec(Type.Stdin, 77, 'stray'), rec(Type.Params, 78, 'x'), rec(Type.AbortRequest, 79)]))
    c.write(request(1, '/ok'))
    await c.endOf(1)
    assert.deepEqual([...new Set(c.records.map((r) => r.id))], [1])
    c.destroy()
  })

  test('a new request on a kept connection whose previous body never finished (Apache reuse)', async () => {
    const c = new RawConnection(t.connectTo)
    c.write(Buffer.concat([begin(1), params(1, { REQUEST_METHOD: 'POST', REQUEST_URI: '/stderr' }), rec(Type.Stdin, 1, 'part')]))
    await c.endOf(1)
    c.write(request(1, '/again'))
    await c.until((recs) => recs.filter((r) => r.type === Type.EndRequest).length === 2)
    assert.match(stdoutOf(c.records.slice(c.records.findIndex((r) => r.type === Type.EndRequest) + 1), 1), /GET \/again/)
    c.destroy()
  })
})

// req.method and req.url may be read without building req.params (the native engine scans the
// raw pairs for them); they must agree with what params say in every case.
forEachEngine('req.method and req.url without params', (engine) => {
  const cases: Array<{ title: string; pairs: [string, string][]; method: string; url: string }> = [
    { title: 'a repeated name: the last one counts', pairs: [['REQUEST_METHOD', 'PUT'], ['REQUEST_URI', '/first'], ['REQUEST_URI', '/last?x=1']], method: 'PUT', url: '/last?x=1' },
    { title: 'near-miss names are not taken', pairs: [['REQUEST_URIX', '/no'], ['REQUEST_UR', '/no'], ['request_uri', '/no'], ['REQUEST_URI', '/yes']], method: 'GET', url: '/yes' },
    { title: 'empty values fall back (GET, SCRIPT_NAME + PATH_INFO + QUERY_STRING)', pairs: [['REQUEST_METHOD', ''], ['REQUEST_URI', ''], ['SCRIPT_NAME', '/s'], ['PATH_INFO', '/p'], ['QUERY_STRING', 'q=1']], method: 'GET', url: '/s/p?q=1' },
    { title: 'a non-ASCII URI decodes as in params', pairs: [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/caf\u00e9/\u20ac']], method: 'POST', url: '/caf\u00e9/\u20ac' },
    { title: 'a long value (4-byte length) after a long name', pairs: [['X'.repeat(200), 'y'.repeat(300)], ['REQUEST_URI', `/${'z'.repeat(1000)}`]], method: 'GET', url: `/${'z'.repeat(1000)}` },
  ]
  let t: TestServer
  before(async () => {
    t = await startFcgi(engine, (req, res) => {
      const method = req.method
      const url = req.url // both before anything touches req.params
      res.end(JSON.stringify({ method, url, uri: req.params.REQUEST_URI }))
    })
  })
  after(() => t.close())
  for (const { title, pairs, method, url } of cases) {
    test(title, async () => {
      const c = new RawConnection(t.connectTo)
      const body = encodePairs(pairs)
      c.write(Buffer.concat([begin(1), rec(Type.Params, 1, body), rec(Type.Params, 1), stdin(1)]))
      const out = stdoutOf(await c.endOf(1), 1)
      const got = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4))
      assert.deepEqual({ method: got.method, url: got.url }, { method, url })
      if (got.uri) assert.equal(got.url, got.uri)
      c.destroy()
    })
  }
})

forEachEngine('FastCGI capacity', (engine) => {
  test('FCGI_OVERLOADED past maxReqs on a connection', async () => {
    const t = await startFcgi(engine, async (req, res) => {
      await new Promise((r) => setTimeout(r, 200))
      res.end('slow')
    }, { maxReqs: 2 })
    try {
      const c = new RawConnection(t.connectTo)
      c.write(Buffer.concat([request(1), request(2), request(3)]))
      await c.endOf(3)
      assert.deepEqual(endRequest(c.records, 3), { appStatus: 0, protocolStatus: 2 })
      await c.endOf(1)
      await c.endOf(2)
      assert.deepEqual(endRequest(c.records, 1), { appStatus: 0, protocolStatus: 0 })
      c.destroy()
    } finally {
      await t.close()
    }
  })

  test('an overloaded Authorizer is denied in its output too (lighttpd reads only that)', async () => {
    const t = await startFcgi(engine, async (_req, res) => {
      await new Promise((r) => setTimeout(r, 200))
      res.end('slow')
    }, { maxReqs: 1 })
    try {
      const c = new RawConnection(t.connectTo)
      c.write(Buffer.concat([request(1), begin(2, { role: 2 })]))
      await c.endOf(2)
      assert.deepEqual(endRequest(c.records, 2), { appStatus: 0, protocolStatus: 2 })
      assert.match(stdoutOf(c.records, 2), /^Status: 503 Service Unavailable\r\n/)
      await c.endOf(1)
      c.destroy()
    } finally {
      await t.close()
    }
  })

  test('FCGI_OVERLOADED on connections past maxConns', async () => {
    const t = await startFcgi(engine, (_req, res) => res.end('ok'), { maxConns: 1 })
    try {
      const a = new RawConnection(t.connectTo)
      await a.connected()
      a.write(request(1))
      await a.endOf(1)
      const b = new RawConnection(t.connectTo)
      b.write(request(1, '/', { keepConn: true }))
      await b.endOf(1)
      assert.deepEqual(endRequest(b.records, 1), { appStatus: 0, protocolStatus: 2 })
      // keep-conn or not, a connection past maxConns is closed after its answer: it will never
      // take a request, and HAProxy acts on an answer with no output only once it closes
      assert.equal(await b.closesWithin(3000), true)
      a.destroy()
      b.destroy()
    } finally {
      await t.close()
    }
  })

  test('allowedAddresses (FCGI_WEB_SERVER_ADDRS) refuses other TCP peers', async () => {
    const t = await startFcgi(engine, (_req, res) => res.end('ok'), { transport: 'tcp', allowedAddresses: ['10.9.9.9'] })
    const ok = await startFcgi(engine, (_req, res) => res.end('ok'), { transport: 'tcp', allowedAddresses: ['127.0.0.1'] })
    try {
      const c = new RawConnection(t.connectTo)
      c.write(request(1))
      assert.equal(await c.closesWithin(3000), true)
      assert.equal(c.records.length, 0)
      assert.ok(t.logs.some((l) => /not in allowedAddresses/.test(l)), t.logs.join('\n'))
      const d = new RawConnection(ok.connectTo)
      d.write(request(1))
      await d.endOf(1)
      d.destroy()
    } finally {
      await t.close()
      await ok.close()
    }
  })
})

async function waitFor(pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
