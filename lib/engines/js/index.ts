// The pure-TypeScript engine: the fallback where no native binary exists, and the baseline.
import type { Engine } from '../../engine.ts'
import { serveFcgiJs } from './fcgi-server.ts'
import { serveHttpJs } from './http-server.ts'

export const jsEngine: Engine = {
  name: 'js',
  serve(protocol, options, onExchange) {
    return protocol === 'fcgi' ? serveFcgiJs(options, onExchange) : serveHttpJs(options, onExchange)
  },
}
