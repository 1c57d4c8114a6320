// A request body stream: the engine pushes chunks, the handler iterates them. Bounded: `push`
// returns false past the high-water mark and the engine stops reading until `onDrain` fires.

const HIGH_WATER = 8 * 1024 * 1024

export class BodyStream implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  private failure: Error | null = null
  private waiter: (() => void) | null = null
  private consumed = false
  private paused = false
  /** Set by the engine: called when a paused stream has room again. */
  onDrain: (() => void) | null = null

  constructor(private readonly highWater = HIGH_WATER) {}

  /** Engine side: add a chunk. Returns false when the engine should stop reading. */
  push(chunk: Buffer): boolean {
    if (this.ended || this.failure) return true
    if (chunk.length > 0) {
      this.chunks.push(chunk)
      this.buffered += chunk.length
      this.wake()
    }
    if (this.buffered >= this.highWater) this.paused = true
    return !this.paused
  }

  /** Engine side: the body is complete. */
  end(): void {
    if (this.ended) return
    this.ended = true
    this.wake()
  }

  /** Engine side: the body will never complete (abort, limit, connection loss). */
  fail(err: Error): void {
    if (this.ended || this.failure) return
    this.failure = err
    this.chunks = []
    this.buffered = 0
    this.wake()
    this.release()
  }

  /** Throw away what is buffered and whatever still arrives (the response ended first). */
  discard(): void {
    this.chunks = []
    this.buffered = 0
    this.ended = true
    this.wake()
    this.release()
  }

  get isEnded(): boolean {
    return this.ended
  }

  get bufferedBytes(): number {
    return this.buffered
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = null
    w?.()
  }

  private release(): void {
    if (!this.paused) return
    this.paused = false
    this.onDrain?.()
  }

  private take(): Buffer | undefined {
    const chunk = this.chunks.shift()
    if (chunk) {
      this.buffered -= chunk.length
      if (this.paused && this.buffered < this.highWater / 2) this.release()
    }
    return chunk
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.consumed) throw new Error('the body stream can be read only once')
    this.consumed = true
    for (;;) {
      const chunk = this.take()
      if (chunk) {
        yield chunk
        continue
      }
      if (this.failure) throw this.failure
      if (this.ended) return
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
  }

  /** The whole body in one Buffer. */
  async bytes(): Promise<Buffer> {
    const parts: Buffer[] = []
    for await (const chunk of this) parts.push(chunk)
    return parts.length === 1 ? parts[0] : Buffer.concat(parts)
  }
}
