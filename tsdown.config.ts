// Compiles lib/ to dist/: the library as ESM (.mjs/.d.mts) and CommonJS (.cjs/.d.cts), one output
// file per source file (unbundle), so dist/engines/native/ sits as deep as lib/engines/native/
// and both reach the napi loader at native/index.cjs by the same relative path. The CLI is ESM
// only: bin/fcgi.js imports dist/cli.mjs.
import { defineConfig, type UserConfig } from 'tsdown'

const common: UserConfig = {
  outDir: 'dist',
  platform: 'node',
  target: 'node20',
  unbundle: true,
  shims: true,
  sourcemap: false,
}

export default defineConfig([
  { ...common, entry: ['lib/index.ts'], format: ['esm', 'cjs'], dts: true, clean: true },
  { ...common, entry: ['lib/cli.ts'], format: ['esm'], dts: false, clean: false },
])
