// The signals that stop a server gracefully (in-flight requests finish first): SIGTERM from a
// process manager, SIGINT from a terminal.

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const
export type StopSignal = (typeof STOP_SIGNALS)[number]

/** Resolves with the first stop signal received; the handlers are removed then. */
export function untilStopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    const handlers = STOP_SIGNALS.map((sig) => {
      const h = () => {
        for (const [s, f] of handlers) process.off(s, f)
        resolve(sig)
      }
      process.on(sig, h)
      return [sig, h] as const
    })
  })
}
