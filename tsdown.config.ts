// Compiles lib/ to dist/: ESM (.mjs/.d.mts) and CommonJS (.cjs/.d.cts), one output file per
// source file (unbundle), so dist/engines/native/ sits as deep as lib/engines/native/ and both
// reach the napi loader at native/index.cjs by the same relative path. One build for both entries:
// two builds writing the same dist/ files would each tree-shake them for their own entry.
// bin/fcgi.js imports dist/cli.mjs; the CommonJS cli.cjs is built along but not exported.
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
