// Opening the listening socket for the js engine: unix path (a stale file is replaced only when
// nobody listens on it), TCP host:port, or an inherited descriptor.
import { existsSync, lstatSync, unlinkSync } from 'node:fs'
import net from 'node:net'
import type { ListenTarget } from '../../engine.ts'
import type { Address } from '../../types.ts'

export async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return
  if (!lstatSync(path).isSocket()) throw new Error(`listen: ${path} exists and is not a socket`)
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (alive) throw Object.assign(new Error(`listen: another server is listening on ${path}`), { code: 'EADDRINUSE' })
  unlinkSync(path)
}

export async function listen(server: net.Server, target: ListenTarget): Promise<void> {
  if (target.type === 'unix') await removeStaleSocket(target.path)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const done = () => {
      server.off('error', reject)
      resolve()
    }
    if (target.type === 'unix') server.listen(target.path, done)
    else if (target.type === 'tcp') server.listen({ host: target.host, port: target.port }, done)
    else server.listen({ fd: target.fd }, done)
  })
}

export function addressOf(server: net.Server, target: ListenTarget): Address {
  const a = server.address()
  if (a && typeof a === 'object') return { type: 'tcp', host: a.address, port: a.port }
  if (typeof a === 'string' && a) return { type: 'unix', path: a }
  return { type: 'unix', path: target.type === 'unix' ? target.path : '' }
}
