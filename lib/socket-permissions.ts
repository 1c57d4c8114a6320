// Ownership and mode of a unix socket after bind, for a front end that runs as another user
// (PHP-FPM's listen.owner / listen.group / listen.mode). Connecting needs write permission on
// the socket file, so e.g. mode 0o660 with group www-data lets nginx in and nobody else.
import { chmod, chown, readFile } from 'node:fs/promises'

export interface SocketPermissions {
  /** File mode bits, e.g. 0o660. */
  socketMode?: number
  /** User name or uid (needs root unless it is the current user). */
  socketOwner?: string | number
  /** Group name or gid (the current user must be in it, or be root). */
  socketGroup?: string | number
}

export function validateSocketPermissions(o: SocketPermissions): void {
  const m = o.socketMode
  if (m !== undefined && (!Number.isInteger(m) || m < 0 || m > 0o7777)) {
    throw new TypeError(`option socketMode must be a file mode from 0 to 0o7777 (e.g. 0o660), got ${String(m)}`)
  }
  for (const name of ['socketOwner', 'socketGroup'] as const) {
    const v = o[name]
    if (v !== undefined && !(typeof v === 'string' ? v !== '' : Number.isInteger(v) && v >= 0)) {
      throw new TypeError(`option ${name} must be a name or a numeric id, got ${JSON.stringify(v)}`)
    }
  }
}

export async function applySocketPermissions(path: string, o: SocketPermissions): Promise<void> {
  if (o.socketOwner !== undefined || o.socketGroup !== undefined) {
    const uid = o.socketOwner === undefined ? -1 : await idOf(o.socketOwner, '/etc/passwd')
    const gid = o.socketGroup === undefined ? -1 : await idOf(o.socketGroup, '/etc/group')
    await chown(path, uid, gid)
  }
  if (o.socketMode !== undefined) await chmod(path, o.socketMode)
}

/** A numeric id as is (also as a string of digits); a name from the local passwd/group file (no
 * NSS: LDAP users need their numeric id). */
async function idOf(value: string | number, file: string): Promise<number> {
  if (typeof value === 'number') return value
  if (/^\d+$/.test(value)) return Number(value)
  const text = await readFile(file, 'utf8')
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':')
    if (name === value && id !== undefined && /^\d+$/.test(id)) return Number(id)
  }
  throw new Error(`${value}: no such ${file === '/etc/group' ? 'group' : 'user'} in ${file}`)
}
