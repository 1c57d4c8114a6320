// Child processes in tests: wait for a line on stderr (a server saying where it listens).
import type { ChildProcess } from 'node:child_process'

/** The first match of `re` in the child's stderr; rejects on exit or after `timeoutMs`. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 15000): Promise<string> {
  let buf = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got: ${buf}`)), timeoutMs)
    child.stderr!.on('data', (d: Buffer) => {
      buf += d
      const m = re.exec(buf)
      if (m) {
        clearTimeout(timer)
        resolve(m[0])
      }
    })
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${buf}`)))
  })
}
