// Compiles lib/ to dist/: ESM (.js/.d.ts) and CommonJS (.cjs/.d.cts), one output file per source
// file (unbundle), so dist/engines/native/ sits as deep as lib/engines/native/ and both reach
// the napi loader at native/index.cjs by the same relative path.
import { defineConfig } from 'tsdown'

export default defineConfig({
  entry: ['lib/index.ts', 'lib/cli.ts'],
  outDir: 'dist',
  format: ['esm', 'cjs'],
  platform: 'node',
  target: 'node20',
  unbundle: true,
  dts: true,
  shims: true,
  clean: true,
  sourcemap: false,
})
