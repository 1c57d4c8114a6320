#!/usr/bin/env node
// The `fcgi` command: the compiled CLI (dist/cli.mjs, built from lib/cli.ts).
import '../dist/cli.mjs'
