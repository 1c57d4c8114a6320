// The interop matrix of the last run of __test__/interop/*.test.ts (each test file writes its
// cells to $FCGI_INTEROP_RESULTS, default <tmpdir>/fcgi-interop-results), printed whole, and
// with --readme turned into the "## Compatibility" section of README.md.
//
//   node --import tsx --test --test-concurrency=1 __test__/interop/*.test.ts
//   node --import tsx scripts/interop-matrix.ts            # print the matrix
//   node --import tsx scripts/interop-matrix.ts --readme   # and rewrite README's section
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { formatMatrix, readResults, resultsDir, type Cell, type ResultsFile } from '../__test__/interop/matrix.ts'

const ORDER = ['nginx', 'apache', 'lighttpd', 'caddy', 'haproxy', 'cgi-fcgi']
const NAMES: Record<string, string> = {
  nginx: 'nginx',
  apache: 'Apache httpd',
  lighttpd: 'lighttpd',
  caddy: 'Caddy',
  haproxy: 'HAProxy',
  'cgi-fcgi': 'cgi-fcgi',
}

// What the cases are, in matrix order (the titles are the tests' own, shortened).
const CASES: [string, string][] = [
  ['get', 'GET with a query string: CGI params, custom headers, cookies'],
  ['connections', 'back-end connections used as configured (new per request / reused / multiplexed)'],
  ['post-10m', 'POST 10 MiB echoed exactly (sha256)'],
  ['unread-10m', '10 MiB posted to a handler that never reads it, then the next request works'],
  ['full-duplex', 'nginx: a handler that streams its answer while a 64 MiB body arrives stalls until fastcgi_read_timeout (asserted limit); reading the body first works'],
  ['chunked', 'chunked upload (2 MiB, no Content-Length) echoed exactly'],
  ['slow-body', 'a body sent slowly in two halves'],
  ['early-answer', 'a handler answers after the first piece of a 1 MiB body, not reading the rest: the client gets the answer while still sending with nginx `fastcgi_request_buffering off`, HAProxy and cgi-fcgi; nginx (buffering), lighttpd and Caddy deliver it once the whole body is sent; Apache one way or the other, by timing'],
  ['big-1m', '1 MiB response, exact'],
  ['error-500', '500 from a throwing handler, then the next request works'],
  ['not-found', '404'],
  ['stderr', "FCGI_STDERR output in the front end's error log"],
  ['head-get', 'HEAD (no body on the wire) then GET on the same client connection'],
  ['parallel-50', '50 parallel mixed requests'],
  ['failover', 'nginx upstream of two: one stops, the other serves everything; it rejoins'],
  ['auth-*', "Authorizer: allow (Variable-* reach the responder), the 200 answer's other headers dropped, deny, a throwing authorizer, an authorizer over capacity: never let through"],
  ['client-abort', "a client that gives up mid-request: the handler's req.signal aborts"],
  ['restart', 'the back end killed and restarted: fast 5xx while down, success right after'],
]

// How the suites configure each front end, where that differs from its defaults, and why.
const CONFIG_NOTES = [
  'Apache: mod_authnz_fcgi reaches its Authorizer over TCP only (`fcgi://host:port/`); Apache\'s children run as `www-data` (the suites start it as root), so a unix socket must be writable for them.',
  'HAProxy: `http-reuse always` (with the default `safe`, a new client connection\'s first request never gets an idle back-end connection, so one request per client connection reuses nothing despite `option keep-conn`) and `retries 1` (the default 3 retries, one second apart, make a refused connect a 503 after 3 s).',
  'nginx: an upstream group with `max_fails=1 fail_timeout=1s` (the defaults are 1 and 10 s); a single-server upstream ignores them.',
]

function summarize(cells: Cell[]): string {
  const ran = cells.filter((c) => c.outcome !== 'skip')
  if (ran.length === 0) return cells.length ? `skipped: ${cells[0].note}` : 'n/a'
  const pass = ran.filter((c) => c.outcome === 'pass').length
  const lim = ran.filter((c) => c.outcome === 'limitation').length
  const fail = ran.filter((c) => c.outcome === 'fail').length
  const engines = [...new Set(ran.map((c) => c.engine))].join(' + ')
  let s = fail ? `**${fail} failing**, ${pass} pass` : `${pass} pass`
  if (lim) s += `, ${lim} limit`
  return `${s} (${engines})`
}

export function readmeSection(files: ResultsFile[]): string {
  files.sort((a, b) => ORDER.indexOf(a.frontEnd) - ORDER.indexOf(b.frontEnd))
  const limits: { frontEnd: string; note: string; cases: Set<string> }[] = []
  const limitRef = (frontEnd: string, note: string, kase: string) => {
    let i = limits.findIndex((l) => l.frontEnd === frontEnd && l.note === note)
    if (i < 0) i = limits.push({ frontEnd, note, cases: new Set() }) - 1
    limits[i].cases.add(kase)
    return i + 1
  }
  const lines: string[] = []
  lines.push('## Compatibility')
  lines.push('')
  lines.push(
    'Every front end below runs in the test suite (`__test__/interop/`, on loopback, with its own config, pid and logs in a temp dir) against both engines, over a unix socket and TCP, one front end + back end per suite. ' +
      'A front end\'s own limits are asserted as such ("limit": the test checks that the front end behaves as stated, so a change shows up). ' +
      'This section is generated from the last run by `node --import tsx scripts/interop-matrix.ts --readme`.',
  )
  lines.push('')
  lines.push('| front end | mode | unix socket | TCP | limits |')
  lines.push('| --- | --- | --- | --- | --- |')
  for (const f of files) {
    const modes = [...new Set(f.cells.map((c) => c.mode))]
    for (const mode of modes) {
      const cells = f.cells.filter((c) => c.mode === mode)
      const refs = [...new Set(cells.filter((c) => c.outcome === 'limitation').map((c) => limitRef(f.frontEnd, c.note ?? '', c.case)))]
      const by = (t: string) => cells.filter((c) => c.transport === t)
      lines.push(
        `| ${NAMES[f.frontEnd] ?? f.frontEnd} ${/\d[\d.]*/.exec(f.version)?.[0] ?? f.version} | ${mode} | ${by('unix').length ? summarize(by('unix')) : 'n/a'} | ${by('tcp').length ? summarize(by('tcp')) : 'n/a'} | ${refs.map((r) => `[${r}]`).join(' ') || '—'} |`,
      )
    }
  }
  lines.push('')
  lines.push('Each cell counts both engines\' results for these cases (the mode-specific ones only where they apply):')
  lines.push('')
  for (const [k, v] of CASES) lines.push(`- \`${k}\`: ${v}`)
  lines.push('')
  lines.push('Limits of the front ends themselves (verified here, asserted by the tests):')
  lines.push('')
  limits.forEach((l, i) => lines.push(`${i + 1}. ${NAMES[l.frontEnd] ?? l.frontEnd}, \`${[...l.cases].join('`, `')}\`: ${l.note}.`))
  lines.push('')
  lines.push('What an Authorizer sees: `Variable-User: alice` reaches the responder as param `User` (Apache, name kept) or `USER` (lighttpd, upper-cased, `-` → `_`). ' +
    'lighttpd lets the request through on any Authorizer answer without a non-200 `Status` (FCGI_OVERLOADED, UNKNOWN_ROLE, an empty response), so the server answers an Authorizer request it cannot take with an explicit `Status: 503`; ' +
    'and an Authorizer handler that returns without setting a status answers 200, which allows the request: end every path with an explicit status.')
  lines.push('')
  lines.push('Front-end settings the suites use on purpose:')
  lines.push('')
  for (const n of CONFIG_NOTES) lines.push(`- ${n}`)
  lines.push('')
  return lines.join('\n')
}

function main(): void {
  const files = readResults()
  if (files.length === 0) {
    console.error(`no results in ${resultsDir()}: run node --import tsx --test --test-concurrency=1 __test__/interop/*.test.ts first`)
    process.exitCode = 1
    return
  }
  const all = files.flatMap((f) => f.cells)
  console.log(formatMatrix(all))
  console.log('')
  for (const f of files) console.log(`${f.frontEnd}: ${f.version} (written ${f.written})`)
  if (process.argv.includes('--readme')) {
    const path = fileURLToPath(new URL('../README.md', import.meta.url))
    const readme = readFileSync(path, 'utf8')
    const section = readmeSection(files)
    const start = readme.indexOf('## Compatibility\n')
    const tests = readme.indexOf('## Tests\n')
    if (tests < 0) throw new Error('README.md has no "## Tests" section')
    // replace only this section: it ends where the next "## " heading starts
    const from = start >= 0 ? start : tests
    const after = start >= 0 ? readme.indexOf('\n## ', start + 1) + 1 : tests
    writeFileSync(path, readme.slice(0, from) + section + '\n' + readme.slice(after))
    console.log(`\nREADME.md: "## Compatibility" ${start >= 0 ? 'rewritten' : 'added before "## Tests"'}`)
  }
}

main()
