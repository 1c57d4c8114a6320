// The pure-TypeScript engine: the fallback where no native binary exists, and the baseline.
import type { Engine } from '../../engine.ts'
import { serveFcgiJs } from './fcgi-server.ts'

export const jsEngine: Engine = {
  name: 'js',
  serve(protocol, options, onExchange) {
    if (protocol === 'fcgi') return serveFcgiJs(options, onExchange)
    return Promise.reject(new Error('serveHttp is not implemented by the js engine yet'))
  },
}
