// Results as markdown (bench/results/latest.md) and a hand-written SVG bar chart
// (requests per CPU-second of the back-end process, by back end).

export interface Row {
  section: 'direct' | 'nginx' | 'http'
  cell: string
  workload: string
  conc: number
  transport: 'unix' | 'tcp'
  variant: string | null
  backend: string
  status: 'ok' | 'skipped' | 'failed'
  note?: string
  rps?: number
  requests?: number
  p50?: number | null
  p99?: number | null
  p999?: number | null
  errors?: number
  errorKinds?: Record<string, number>
  /** Back-end CPU seconds (user + system, children included) per 100 000 requests. */
  cpuPer100k?: number | null
  /** nginx's own CPU per 100 000 requests (nginx cells). */
  feCpuPer100k?: number | null
  peakRssMiB?: number
  /** Load generator CPU as % of one core over the cell. */
  genCpuPct?: number
  /** Cores used by processes outside the bench during the cell (other users of the machine). */
  otherLoad?: number
  attempts?: number
  /** Mean latency, µs. */
  meanUs?: number | null
  /** Requests in flight on average by Little's law (req/s × mean latency). */
  inFlight?: number | null
  ref?: string
  rpsRatio?: number | null
  cpuRatio?: number | null
}

export interface IdleResult {
  backend: string
  status: 'ok' | 'skipped' | 'failed'
  note?: string
  conns?: number
  failed?: number
  closedByServer?: number
  connectSeconds?: number
  rssBeforeMiB?: number
  rssIdleMiB?: number
  perConnKiB?: number | null
}

export interface UploadResult {
  backend: string
  status: 'ok' | 'skipped' | 'failed'
  note?: string
  bytes?: number
  seconds?: number
  mibPerS?: number
  rssBeforeMiB?: number
  rssPeakMiB?: number
  growthMiB?: number
}

export interface Meta {
  date: string
  quick: boolean
  nproc: number
  cpu: string
  kernel: string
  memGiB: number
  versions: Record<string, string>
  settings: Record<string, number>
  nativeAvailable: boolean
  nativeHttpAvailable: boolean
  descriptions: Record<string, string>
  seconds: number
}

const num = (n: number | null | undefined, digits = 0): string => {
  if (n == null || !Number.isFinite(n)) return '–'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
const us = (n: number | null | undefined) => (n == null ? '–' : n < 10 ? num(n, 1) : num(n))
const ratio = (n: number | null | undefined) => (n == null ? '–' : `${n.toFixed(2)}×`)

const SECTION_TITLES: Record<Row['section'], string> = {
  direct: 'Direct FastCGI: fcgi-bench → back end',
  nginx: 'Behind nginx: wrk -t1 → nginx (1 worker, fastcgi_keep_conn on) → back end',
  http: 'HTTP/1.1: fcgi-bench http → server (TCP, keep-alive)',
}

const SECTION_NOTES: Record<Row['section'], string> = {
  direct:
    '`cN` = N connections with one request in flight each, FCGI_KEEP_CONN set; `mpx` = N/32 connections × 32 multiplexed ' +
    'requests; `conn/req` = a new connection per request without FCGI_KEEP_CONN (latency includes the connect). ' +
    'PHP-FPM always runs one request per connection here (a child serves one kept connection for as long as it stays ' +
    'open, so N kept connections would starve on 1–2 children). `gen CPU` is the load generator\'s own CPU (% of one core): ' +
    'near 100 % means the generator, not the back end, is the limit.',
  nginx:
    'wrk -t1 with `cN` connections to nginx (1 worker; upstream `keepalive 32`; buffers sized so no temp files; ' +
    'wrk counts a request unanswered after 2 s as a timeout error); ' +
    'nginx → back end over a unix socket unless the cell says tcp. CPU columns are the back end\'s; `nginx CPU` is nginx\'s own. ' +
    'The 100-param cell sends 80 `X-Bench-n` headers, which nginx adds to its ~20 fastcgi_params.',
  http: '`pipeline8` = 8 requests in flight per connection (HTTP pipelining).',
}

/** Rows grouped by cell (in the order cells first appear), back ends in their order within a cell. */
function sortByCell(rows: Row[]): Row[] {
  const cellOrder = [...new Set(rows.map((r) => r.cell))]
  const backendOrder = [...new Set(rows.map((r) => r.backend))]
  return [...rows].sort(
    (a, b) => cellOrder.indexOf(a.cell) - cellOrder.indexOf(b.cell) || backendOrder.indexOf(a.backend) - backendOrder.indexOf(b.backend),
  )
}

function refName(rows: Row[], section: Row['section']): string {
  const ref = rows.find((r) => r.section === section && r.ref)?.ref
  return ref ?? (section === 'http' ? 'native serveHttp' : 'native')
}

function sectionTable(rows: Row[], section: Row['section']): string {
  const ran = sortByCell(rows.filter((r) => r.section === section && r.status === 'ok'))
  if (ran.length === 0) return '_No rows ran._\n'
  const ref = refName(rows, section)
  const extra = section === 'nginx' ? 'nginx CPU s/100k' : section === 'direct' ? 'gen CPU' : null
  const head = ['cell', 'back end', 'req/s', `× ${ref}`, 'p50 µs', 'p99 µs', 'p99.9 µs', 'CPU s/100k req', `CPU × ${ref}`, 'peak RSS MiB']
  if (extra) head.push(extra)
  head.push('errors', 'other load')
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`]
  let lastCell = ''
  for (const r of ran) {
    const cells = [
      r.cell === lastCell ? '' : `**${r.cell}**`,
      `${r.backend}${r.note ? ' †' : ''}${stalled(r) ? ' ‡' : ''}`,
      num(r.rps),
      ratio(r.rpsRatio),
      us(r.p50),
      us(r.p99),
      us(r.p999),
      num(r.cpuPer100k, 2),
      ratio(r.cpuRatio),
      num(r.peakRssMiB, 1),
    ]
    if (section === 'nginx') cells.push(num(r.feCpuPer100k, 2))
    if (section === 'direct') cells.push(`${num(r.genCpuPct)} %`)
    const kinds = Object.entries(r.errorKinds ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
    cells.push(r.errors ? `${num(r.errors)} (${kinds})` : '0')
    cells.push(num(r.otherLoad, 2))
    lines.push(`| ${cells.join(' | ')} |`)
    lastCell = r.cell
  }
  const notes = [...new Set(ran.filter((r) => r.note).map((r) => `${r.backend}: ${r.note}`))]
  const stalls = ran
    .filter(stalled)
    .map((r) => `${r.backend} in ${r.cell}: ≈${num(r.inFlight, 1)} of ${r.conc}`)
  const stallNote = stalls.length
    ? `\n‡ Fewer requests were being answered than were sent: on average only ${stalls.join('; ')} were in flight ` +
      "(Little's law: req/s × mean latency). The rest waited unanswered for the whole cell (wrk does not count them as " +
      'errors), so the latency columns describe only the requests that were served.\n'
    : ''
  return `${lines.join('\n')}\n${notes.length ? `\n† ${notes.join('; ')}.\n` : ''}${stallNote}`
}

/** Far fewer requests in flight than the cell's concurrency: most connections were stalled. */
function stalled(r: Row): boolean {
  return r.inFlight != null && r.inFlight < 0.5 * r.conc && r.conc >= 8
}

interface Aim {
  text: string
  value: number | null
  target: number
  atLeast: boolean
}

function find(rows: Row[], section: Row['section'], cell: string, backend: string): Row | undefined {
  return rows.find((r) => r.section === section && r.cell === cell && r.backend === backend && r.status === 'ok')
}

function aims(rows: Row[]): Aim[] {
  const out: Aim[] = []
  for (const conc of [32, 256]) {
    const cell = `hello c${conc} unix`
    const n = find(rows, 'nginx', cell, 'native')
    const go = find(rows, 'nginx', cell, 'go net/http/fcgi')
    const nf = find(rows, 'nginx', cell, 'node-fastcgi')
    const div = (a?: number | null, b?: number | null) => (a != null && b ? a / b : null)
    if (n || go) {
      out.push({ text: `nginx, ${cell}: native req/s ÷ Go fcgi`, value: div(n?.rps, go?.rps), target: 2, atLeast: true })
      out.push({ text: `nginx, ${cell}: native back-end CPU per request ÷ Go fcgi`, value: div(n?.cpuPer100k, go?.cpuPer100k), target: 0.25, atLeast: false })
    }
    if (n || nf) out.push({ text: `nginx, ${cell}: native req/s ÷ node-fastcgi`, value: div(n?.rps, nf?.rps), target: 5, atLeast: true })
    const dn = find(rows, 'direct', cell, 'native')
    const dj = find(rows, 'direct', cell, 'js')
    const dc = find(rows, 'direct', cell, 'rust ceiling')
    if (dn || dj) out.push({ text: `direct, ${cell}: native req/s ÷ js`, value: div(dn?.rps, dj?.rps), target: 3, atLeast: true })
    if (dn || dc) out.push({ text: `direct, ${cell}: native req/s ÷ pure-Rust ceiling`, value: div(dn?.rps, dc?.rps), target: 0.7, atLeast: true })
  }
  return out
}

export function renderMarkdown(meta: Meta, rows: Row[], idle: IdleResult[], upload: UploadResult[], svgName: string): string {
  const v = meta.versions
  const s = meta.settings
  const out: string[] = []
  out.push(`# fcgi benchmarks${meta.quick ? ' (quick smoke run — not for quoting)' : ''}\n`)
  out.push(
    `Measured ${meta.date.slice(0, 16).replace('T', ' ')} UTC on ${meta.nproc} × ${meta.cpu} (${num(meta.memGiB, 0)} GiB, Linux ${meta.kernel}); ` +
      `Node ${v.node}, nginx ${v.nginx}, Go ${v.go}, PHP ${v.php}, rustc ${v.rustc}, wrk ${v.wrk}, node-fastcgi ${v['node-fastcgi']}. ` +
      `Run time ${num(meta.seconds / 60, 1)} min (\`npm run bench${meta.quick ? ' -- --quick' : ''}\`).\n`,
  )
  out.push(
    `Each cell: ${s.warmupS} s warm-up, then ${s.durationS} s measured. Back ends run one at a time, each as its own process, ` +
      `but the load generator (${s.generatorThreads} thread), nginx and the back end share the ${meta.nproc} cores, so absolute figures ` +
      `move from run to run: read the ratios (× ${meta.nativeAvailable ? 'native' : 'js'}), which compare rows of the same cell in this run. ` +
      `Native engine: ${meta.nativeAvailable ? `FCGI_NATIVE_THREADS=${s.nativeThreads}` : 'not available in this run — ratios are to js'}` +
      `${meta.nativeHttpAvailable ? '' : '; native serveHttp not available yet'}. ` +
      'CPU = utime + stime of the back-end process (all threads; PHP-FPM master and children) per 100 000 requests; ' +
      'peak RSS = VmHWM (reset before each cell; summed over PHP-FPM processes). Latencies: HDR histogram (fcgi-bench) or wrk. ' +
      '`other load` = cores used by processes outside the bench during the cell (this machine is shared); a cell with more ' +
      'than 0.25 was measured again (up to twice) and the cleanest attempt kept.\n',
  )
  out.push(`![Requests per CPU-second of the back end](${svgName})\n`)

  const aimRows = aims(rows)
  if (aimRows.length) {
    out.push('## Aims\n')
    out.push('| aim | target | measured | |')
    out.push('| --- | ---: | ---: | --- |')
    for (const a of aimRows) {
      const met = a.value == null ? 'not measured' : (a.atLeast ? a.value >= a.target : a.value <= a.target) ? 'met' : 'missed'
      out.push(`| ${a.text} | ${a.atLeast ? '≥' : '≤'} ${a.target} | ${a.value == null ? '–' : a.value.toFixed(2)} | ${met} |`)
    }
    out.push('')
  }

  for (const section of ['direct', 'nginx', 'http'] as const) {
    if (!rows.some((r) => r.section === section)) continue
    out.push(`## ${SECTION_TITLES[section]}\n`)
    out.push(`${SECTION_NOTES[section]}\n`)
    out.push(sectionTable(rows, section))
  }

  const ceilingRows = rows.filter((r) => r.section === 'direct' && r.backend === 'rust ceiling' && r.status === 'ok')
  if (ceilingRows.length) {
    const best = ceilingRows.reduce((a, b) => ((b.rps ?? 0) > (a.rps ?? 0) ? b : a))
    out.push('### The load generator\'s own ceiling\n')
    out.push(
      `Against the trivial pure-Rust server the generator reached ${num(best.rps)} req/s (${best.cell}) using ` +
        `${num(best.genCpuPct)} % of one core; ` +
        ceilingRows
          .filter((r) => r.workload === 'hello' && r.transport === 'unix')
          .map((r) => `${r.cell}: ${num(r.rps)} req/s at ${num(r.genCpuPct)} % generator CPU`)
          .join('; ') +
        '. Any back end well below these figures is measured, not the generator.\n',
    )
  }

  if (idle.length) {
    out.push(`## Memory: ${num(s.idleConns)} idle kept connections\n`)
    out.push(
      'Each connection made one kept-alive hello request first, then stayed open and idle (unix socket). ' +
        'RSS of the back-end process before and with the connections held.\n',
    )
    out.push('| back end | connections held | RSS before MiB | RSS with them MiB | KiB per connection | notes |')
    out.push('| --- | ---: | ---: | ---: | ---: | --- |')
    for (const r of idle) {
      if (r.status !== 'ok') {
        out.push(`| ${r.backend} | ${r.status} | | | | ${r.note ?? ''} |`)
        continue
      }
      const notes = [r.failed ? `${r.failed} failed to open` : '', r.closedByServer ? `${r.closedByServer} closed by the server while idle` : '']
        .filter(Boolean)
        .join('; ')
      out.push(
        `| ${r.backend} | ${num(r.conns)} | ${num(r.rssBeforeMiB, 1)} | ${num(r.rssIdleMiB, 1)} | ${num(r.perConnKiB, 1)} | ${notes} |`,
      )
    }
    out.push('')
  }
  if (upload.length) {
    out.push(`## Memory: one ${num((s.uploadBytes ?? 0) / 2 ** 20)} MiB streamed upload\n`)
    out.push(
      'One FastCGI request whose body streams in 65 528-byte STDIN records; the handler counts the bytes ' +
        '(`for await (const chunk of req.stdin)`). RSS sampled every 50 ms plus VmHWM.\n',
    )
    out.push('| back end | MiB/s | RSS before MiB | peak RSS MiB | growth MiB | notes |')
    out.push('| --- | ---: | ---: | ---: | ---: | --- |')
    for (const r of upload) {
      if (r.status !== 'ok') {
        out.push(`| ${r.backend} | ${r.status} | | | | ${r.note ?? ''} |`)
        continue
      }
      out.push(`| ${r.backend} | ${num(r.mibPerS)} | ${num(r.rssBeforeMiB, 1)} | ${num(r.rssPeakMiB, 1)} | ${num(r.growthMiB, 1)} | |`)
    }
    out.push('')
  }

  const missing = rows.filter((r) => r.status !== 'ok')
  if (missing.length) {
    out.push('## Skipped or failed\n')
    const seen = new Set<string>()
    for (const r of missing) {
      const key = `${r.section} ${r.backend} ${r.status} ${r.note}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push(`- ${r.section}, ${r.backend}: ${r.status} — ${r.note ?? ''}`)
    }
    out.push('')
  }

  out.push('## Back ends\n')
  for (const [name, text] of Object.entries(meta.descriptions)) out.push(`- **${name}**: ${text}`)
  out.push(
    '\nAll serve the same routes with the same bytes: `/hello` (14-byte text), `/echo` (the body back), ' +
      '`/big` (1 MiB), `/params` (the number of params), `/upload` (counts the body).\n',
  )
  return `${out.join('\n')}\n`
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`
  return `${Math.round(n)}`
}

/** Horizontal bars: requests per CPU-second of the back end, direct and behind nginx (hello, c32, unix). */
export function renderSvg(meta: Meta, rows: Row[]): string {
  const series = [
    { section: 'direct' as const, cell: 'hello c32 unix', label: 'direct (fcgi-bench → back end)', color: '#2f6db5' },
    { section: 'nginx' as const, cell: 'hello c32 unix', label: 'behind nginx (wrk → nginx → back end)', color: '#e07b22' },
    { section: 'http' as const, cell: 'hello c32 tcp', label: 'HTTP (fcgi-bench http → server)', color: '#4a9a4a' },
  ]
  const names: string[] = []
  for (const r of rows) if (r.status === 'ok' && !names.includes(r.backend)) names.push(r.backend)
  const value = (section: Row['section'], cell: string, backend: string) => {
    const r = rows.find((x) => x.section === section && x.cell === cell && x.backend === backend && x.status === 'ok')
    return r?.cpuPer100k ? 1e5 / r.cpuPer100k : null
  }
  const groups = names
    .map((name) => ({ name, bars: series.map((s) => ({ ...s, v: value(s.section, s.cell, name) })).filter((b) => b.v != null) }))
    .filter((g) => g.bars.length > 0)
  const max = Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => b.v!)))
  const step = 10 ** Math.floor(Math.log10(max))
  const top = Math.ceil(max / step) * step
  const left = 170
  const width = 820
  const plot = width - left - 70
  const barH = 13
  let y = 78
  const parts: string[] = []
  for (const g of groups) {
    const h = g.bars.length * (barH + 2)
    parts.push(`<text x="${left - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="name">${esc(g.name)}</text>`)
    for (const b of g.bars) {
      const w = Math.max(1, (b.v! / top) * plot)
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"><title>${esc(`${g.name}, ${b.label}: ${Math.round(b.v!)} req per CPU-second`)}</title></rect>`)
      parts.push(`<text x="${(left + w + 4).toFixed(1)}" y="${y + barH - 2}" class="val">${short(b.v!)}</text>`)
      y += barH + 2
    }
    y += 10
  }
  const height = y + 30
  const ticks: string[] = []
  const tickStep = top / 5
  for (let i = 0; i <= 5; i++) {
    const x = left + (i / 5) * plot
    ticks.push(`<line x1="${x}" y1="70" x2="${x}" y2="${y - 4}" class="grid"/>`)
    ticks.push(`<text x="${x}" y="${y + 10}" text-anchor="middle" class="tick">${short(i * tickStep)}</text>`)
  }
  let lx = 12
  const legend = series
    .map((s) => {
      const item = `<rect x="${lx}" y="44" width="12" height="12" fill="${s.color}"/><text x="${lx + 16}" y="54" class="legend">${esc(s.label)}</text>`
      lx += 16 + s.label.length * 6.2 + 18
      return item
    })
    .join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<style>.name{font-size:12px;fill:#222}.val{font-size:11px;fill:#333}.tick{font-size:10px;fill:#666}.legend{font-size:11px;fill:#333}.grid{stroke:#ddd;stroke-width:1}.title{font-size:14px;font-weight:600;fill:#111}.sub{font-size:11px;fill:#555}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="20" class="title">Requests per CPU-second of the back-end process — hello, 32 connections (higher is better)</text>
<text x="12" y="36" class="sub">${esc(`${meta.date.slice(0, 10)} · ${meta.nproc} × ${meta.cpu} · Node ${meta.versions.node} · nginx ${meta.versions.nginx} · Go ${meta.versions.go} · PHP ${meta.versions.php}${meta.quick ? ' · quick run' : ''}`)}</text>
${legend}
${ticks.join('\n')}
${parts.join('\n')}
<text x="${left + plot / 2}" y="${height - 6}" text-anchor="middle" class="tick">requests per CPU-second (back-end utime + stime)</text>
</svg>
`
}
