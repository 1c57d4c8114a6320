// The access log: one line per finished request, in Apache's combined format or as JSON lines,
// or each entry handed to a function.
import type { AccessLogEntry, AccessLogOption } from '../types.ts'

export type AccessLogWriter = (entry: AccessLogEntry) => void

/** The writer for the `accessLog` option, or null when it is off. */
export function accessLogWriter(option: AccessLogOption | undefined): AccessLogWriter | null {
  if (option === undefined) return null
  if (typeof option === 'function') return option
  const { format, stream } = typeof option === 'string' ? { format: option, stream: process.stdout } : { format: option.format ?? 'combined', stream: option.stream }
  if (format !== 'combined' && format !== 'json') throw new TypeError(`option accessLog: format must be 'combined' or 'json', got ${JSON.stringify(format)}`)
  if (!stream || typeof stream.write !== 'function') throw new TypeError('option accessLog: stream must have a write(line) method')
  const line = format === 'json' ? formatJson : formatCombined
  return (entry) => stream.write(`${line(entry)}\n`)
}

/** `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`, as Apache and nginx write it. */
export function formatCombined(e: AccessLogEntry): string {
  const request = `${e.method} ${e.url} ${e.httpVersion}`
  return `${e.remoteAddr || '-'} - ${e.remoteUser ? escape(e.remoteUser) : '-'} [${clfDate(e.time)}] "${escape(request)}" ${e.status || '-'} ${e.bytes || '-'} "${escape(e.referer) || '-'}" "${escape(e.userAgent) || '-'}"`
}

function formatJson(e: AccessLogEntry): string {
  return JSON.stringify({ ...e, time: e.time.toISOString(), durationMs: Math.round(e.durationMs * 1000) / 1000 })
}

/** Apache's escaping of logged strings: `"` and `\` get a backslash, other control and non-ASCII
 * bytes are written as \xhh, so a request cannot forge log lines. */
function escape(s: string): string {
  return s.replace(/["\\]|[^\x20-\x7e]/g, (c) => {
    if (c === '"' || c === '\\') return `\\${c}`
    return [...Buffer.from(c)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')
  })
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** Common log format time, local time with its offset: `10/Oct/2000:13:55:36 -0700`. */
export function clfDate(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  const offset = -d.getTimezoneOffset()
  const sign = offset < 0 ? '-' : '+'
  const abs = Math.abs(offset)
  return `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
}
