// Raw HTTP/1.1 over a socket: send exact bytes, read what comes back until the server closes or
// a deadline passes.
import net from 'node:net'

export interface RawHttp {
  socket: net.Socket
  text(): string
  closed: Promise<void>
  /** Wait until the received text matches, or fail after `ms`. */
  until(re: RegExp, ms?: number): Promise<string>
}

export function rawHttp(port: number, data?: string | Buffer): RawHttp {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  let out = ''
  const waiters: (() => void)[] = []
  socket.on('data', (d: Buffer) => {
    out += d.toString('latin1')
    for (const w of waiters.splice(0)) w()
  })
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      for (const w of waiters.splice(0)) w()
      resolve()
    }),
  )
  if (data !== undefined) socket.write(data)
  return {
    socket,
    text: () => out,
    closed,
    async until(re, ms = 5000) {
      const deadline = Date.now() + ms
      while (!re.test(out)) {
        if (socket.destroyed && !re.test(out)) throw new Error(`closed before ${re}; got ${JSON.stringify(out.slice(0, 500))}`)
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(out.slice(0, 500))}`)
        await new Promise<void>((r) => {
          const t = setTimeout(r, left)
          waiters.push(() => {
            clearTimeout(t)
            r()
          })
        })
      }
      return out
    },
  }
}

/** Send bytes, wait for the server to close (or `ms`), return everything received. */
export async function exchangeHttp(port: number, data: string | Buffer, ms = 3000): Promise<string> {
  const c = rawHttp(port, data)
  const timer = setTimeout(() => c.socket.destroy(), ms)
  await c.closed
  clearTimeout(timer)
  return c.text()
}
