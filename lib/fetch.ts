// The fetch style: a WHATWG Request in, a Response out (what Hono's `app.fetch` expects).
import type { Handler, FetchHandler } from './types.ts'
import type { FcgiRequest } from './request.ts'
import type { FcgiResponse } from './response.ts'

/** Turn a fetch-style function into a (req, res) handler. */
export function fetchHandler(fetch: FetchHandler): Handler {
  return async (req, res) => {
    const request = toRequest(req)
    const response = await fetch(request, { params: req.params, role: req.role, data: req.data })
    await sendResponse(response, res, req.signal)
  }
}

function toRequest(req: FcgiRequest): Request {
  const p = req.params
  const https = p.HTTPS === 'on' || p.HTTPS === '1' || p.REQUEST_SCHEME === 'https'
  const host = p.HTTP_HOST || hostFromServer(p)
  const url = new URL(req.url.startsWith('/') ? req.url : `/${req.url}`, `${https ? 'https' : 'http'}://${host}`)
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    try {
      headers.append(name, value)
    } catch {
      // a name or value fetch's Headers refuses (e.g. control characters): leave it out
    }
  }
  const method = req.method.toUpperCase()
  const hasBody = method !== 'GET' && method !== 'HEAD'
  return new Request(url, {
    method,
    headers,
    signal: req.signal,
    body: hasBody ? toReadable(req.stdin) : undefined,
    // @ts-expect-error Node's undici needs `duplex` for streamed request bodies; the DOM typings lack it
    duplex: 'half',
  })
}

function hostFromServer(p: Record<string, string>): string {
  const name = p.SERVER_NAME || 'localhost'
  const port = p.SERVER_PORT
  const host = name.includes(':') && !name.startsWith('[') ? `[${name}]` : name
  return port && port !== '80' && port !== '443' ? `${host}:${port}` : host
}

function toReadable(body: AsyncIterable<Buffer>): ReadableStream<Uint8Array> {
  const it = body[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    async cancel() {
      await it.return?.()
    },
  })
}

async function sendResponse(response: Response, res: FcgiResponse, signal: AbortSignal): Promise<void> {
  res.status = response.status
  const cookies = response.headers.getSetCookie()
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value)
  }
  if (cookies.length) res.setHeader('Set-Cookie', cookies)
  if (!response.body) {
    res.end()
    return
  }
  const reader = response.body.getReader()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      if (signal.aborted) break
      if (!res.write(value)) await res.drain()
    }
  } finally {
    reader.releaseLock()
    if (signal.aborted) await response.body.cancel().catch(() => {})
  }
  res.end()
}
