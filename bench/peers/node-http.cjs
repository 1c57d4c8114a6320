// Peer: plain node:http with the bench routes (what Node does without FastCGI).
// `node bench/peers/node-http.cjs --listen <unix path|host:port>`; prints READY when listening.
'use strict'
const http = require('node:http')
const { parseListen, routes } = require('./common.cjs')

const server = http.createServer((req, res) => routes(req, res, req.headers))
server.keepAliveTimeout = 600_000
server.listen(parseListen(), () => process.stdout.write('READY node-http\n'))
process.once('SIGTERM', () => process.exit(0))
