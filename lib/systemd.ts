// systemd socket activation (`listen: 'systemd'`), as sd_listen_fds(3) does it: the sockets
// start at fd 3, LISTEN_FDS says how many, LISTEN_PID must be this process (else they were meant
// for a parent), and the variables are unset after use so child processes do not take them too.

export const SD_LISTEN_FDS_START = 3

/** The descriptor to listen on, or an error saying why there is none. Only the first socket is
 * used; a unit that passes more gets a warning through `warn`. */
export function systemdListenFd(warn: (message: string) => void): number {
  const { LISTEN_PID: pid, LISTEN_FDS: fds } = process.env
  if (pid === undefined || fds === undefined) {
    throw new Error("listen: 'systemd' needs socket activation (LISTEN_FDS and LISTEN_PID are not set; start it from a .socket unit)")
  }
  if (!/^\d+$/.test(pid) || Number(pid) !== process.pid) {
    throw new Error(`listen: 'systemd': LISTEN_PID is ${pid}, not this process (${process.pid}); the sockets belong to another process`)
  }
  const count = /^\d+$/.test(fds) ? Number(fds) : 0
  if (count < 1) throw new Error(`listen: 'systemd': LISTEN_FDS is ${JSON.stringify(fds)}, no socket was passed`)
  if (count > 1) warn(`listen: 'systemd': ${count} sockets passed, serving only the first (fd ${SD_LISTEN_FDS_START})`)
  delete process.env.LISTEN_PID
  delete process.env.LISTEN_FDS
  delete process.env.LISTEN_FDNAMES
  return SD_LISTEN_FDS_START
}
