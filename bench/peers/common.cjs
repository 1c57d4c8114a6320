// Shared by the Node peers: the bench routes in node:http style, and --listen parsing.
'use strict'
const fs = require('node:fs')

const HELLO = 'Hello, World!\n'
const BIG = Buffer.alloc(1 << 20, 'x')

function parseListen() {
  const i = process.argv.indexOf('--listen')
  const text = i === -1 ? 'fcgi.sock' : process.argv[i + 1]
  const path = text.startsWith('unix:') ? text.slice(5) : text
  if (path.includes('/')) {
    try {
      fs.unlinkSync(path)
    } catch {}
    return { path }
  }
  const colon = text.lastIndexOf(':')
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) }
}

/** `params`: the CGI params (FastCGI) or the headers (HTTP), counted by /params. */
function routes(req, res, params) {
  const url = req.url || '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  switch (path) {
    case '/echo': {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
        res.end(Buffer.concat(chunks))
      })
      return
    }
    case '/upload': {
      let n = 0
      req.on('data', (c) => (n += c.length))
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' })
        res.end(`${n}\n`)
      })
      return
    }
    case '/big':
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
      res.end(BIG)
      return
    case '/params':
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end(`${Object.keys(params || {}).length}\n`)
      return
    default:
      // Drain any body first (as the other back ends do by reading stdin to its end).
      req.resume()
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end(HELLO)
  }
}

module.exports = { parseListen, routes }
