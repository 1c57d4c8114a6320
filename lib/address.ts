// How an address is written in log lines and printed URLs: a unix path, or host:port with IPv6
// hosts in brackets.
import type { Address } from './types.ts'

export function describeAddress(a: Address): string {
  return a.type === 'unix' ? a.path : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}
