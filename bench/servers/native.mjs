// The native engine (Rust core, crates/fcgi-node) serving bench/servers/app.mjs.
import { main } from './serve.mjs'

await main('native')
