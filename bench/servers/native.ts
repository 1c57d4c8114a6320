// The native engine (Rust core, crates/fcgi-node) serving bench/servers/app.ts.
import { main } from './serve.ts'

await main('native')
