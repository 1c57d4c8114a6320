// The bench handler, shared by the js and native entries. Same routes and bytes as the pure-Rust
// ceiling (crates/fcgi-bench/src/ceiling.rs) and the peers (bench/peers/). Plain JavaScript run by
// plain node, as users run the compiled package: no TypeScript loader in the measured process.

const HELLO = 'Hello, World!\n'
const BIG = Buffer.alloc(1 << 20, 'x')

/** @type {import('fcgi').Handler} */
export const handler = (req, res) => {
  const url = req.url
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  switch (path) {
    case '/echo':
      return req.bytes().then((body) => {
        res.setHeader('Content-Type', 'application/octet-stream')
        res.end(body)
      })
    case '/big':
      res.setHeader('Content-Type', 'application/octet-stream')
      res.end(BIG)
      return
    case '/params':
      res.setHeader('Content-Type', 'text/plain')
      res.end(`${Object.keys(req.params).length}\n`)
      return
    case '/upload':
      return (async () => {
        let n = 0
        for await (const chunk of req.stdin) n += chunk.length
        res.setHeader('Content-Type', 'text/plain')
        res.end(`${n}\n`)
      })()
    default:
      res.setHeader('Content-Type', 'text/plain')
      res.end(HELLO)
  }
}
