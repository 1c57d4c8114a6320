// The js engine (pure TypeScript on node:net / node:http) serving bench/servers/app.mjs.
import { main } from './serve.mjs'

await main('js')
