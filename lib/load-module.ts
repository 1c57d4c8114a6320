// Imports a user's app module (`fcgi serve app.ts`). The package itself ships JavaScript; a user's
// TypeScript runs through Node's own type stripping where Node has it (22.18+, or an older Node
// started with --experimental-strip-types: `process.features.typescript`), otherwise through tsx
// when the user has it installed (looked up from the module's folder, then the working
// directory), otherwise it fails with one line naming what to install.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])

export async function importUserModule(file: string): Promise<Record<string, unknown>> {
  const ns = await importFile(file)
  // A module compiled to CommonJS from `export default` arrives as { default: { __esModule, default } }
  const inner = ns.default as Record<string, unknown> | undefined
  return inner && typeof inner === 'object' && inner.__esModule === true ? inner : ns
}

async function importFile(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file)
  const url = pathToFileURL(path).href
  if (!TYPESCRIPT.has(extname(path)) || nodeStripsTypes()) return import(url)
  const tsx = findTsx([dirname(path), process.cwd()])
  if (tsx) {
    // Both hooks: a .ts file outside a "type": "module" package is CommonJS to Node.
    for (const entry of tsx) ((await import(pathToFileURL(entry).href)) as { register: () => unknown }).register()
    return import(url)
  }
  try {
    return await import(url) // a loader registered by the user (node --import ...) may handle it
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err
    throw new Error(
      `${file} is TypeScript and Node ${process.version} cannot run it by itself: ` +
        'install tsx (npm install -D tsx), use Node 22.18 or newer, or compile it to JavaScript',
    )
  }
}

function nodeStripsTypes(): boolean {
  const features = process.features as { typescript?: string | false }
  return typeof features.typescript === 'string'
}

/** The ESM entries of tsx's `tsx/esm/api` and `tsx/cjs/api` (their CommonJS twins cannot register
 * the ESM hooks). */
function findTsx(dirs: string[]): string[] | null {
  for (const dir of dirs) {
    let manifest: string
    try {
      manifest = createRequire(join(dir, 'noop.js')).resolve('tsx/package.json')
    } catch {
      continue // not installed there
    }
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> }
    const entries = ['./esm/api', './cjs/api'].map((name) => pkg.exports?.[name]?.import?.default)
    if (entries.every(Boolean)) return entries.map((entry) => join(dirname(manifest), entry!))
  }
  return null
}
