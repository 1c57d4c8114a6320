// The js engine (pure TypeScript on node:net / node:http) serving bench/servers/app.ts.
import { main } from './serve.ts'

await main('js')
