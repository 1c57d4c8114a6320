// Peer: the npm package node-fastcgi (an http-like API over FastCGI) with the bench routes.
// `node bench/peers/node-fastcgi.cjs --listen <unix path|host:port>`; prints READY when listening.
'use strict'
const fcgi = require('node-fastcgi')
const { parseListen, routes } = require('./common.cjs')

const server = fcgi.createServer((req, res) => routes(req, res, req.cgiParams))
server.on('error', (err) => {
  console.error('node-fastcgi:', err)
})
server.listen(parseListen(), () => process.stdout.write('READY node-fastcgi\n'))
process.once('SIGTERM', () => process.exit(0))
