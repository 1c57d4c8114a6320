#!/usr/bin/env node
// The `fcgi` command. The package ships TypeScript; tsx loads it (and the user's .ts app modules).
import { register } from 'tsx/esm/api'

register()
await import('../lib/cli.ts')
