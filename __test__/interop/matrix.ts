// The interop matrix: every (front end × mode × transport × engine × case) cell records pass,
// fail, limitation (the front end's own documented behaviour, asserted as such) or skip. Each test
// file writes its cells to <results dir>/<front end>.json and prints its part of the matrix;
// scripts/interop-matrix.ts joins the files into the whole matrix and the README table.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type Outcome = 'pass' | 'fail' | 'limitation' | 'skip'

export interface Cell {
  frontEnd: string
  version: string
  mode: string
  transport: string
  engine: string
  case: string
  outcome: Outcome
  note?: string
  ms: number
}

export interface ResultsFile {
  frontEnd: string
  version: string
  written: string
  cells: Cell[]
}

export function resultsDir(): string {
  return process.env.FCGI_INTEROP_RESULTS ?? join(tmpdir(), 'fcgi-interop-results')
}

export class Matrix {
  readonly cells: Cell[] = []

  constructor(
    readonly frontEnd: string,
    readonly version: string,
  ) {}

  record(cell: Omit<Cell, 'frontEnd' | 'version'>): void {
    this.cells.push({ frontEnd: this.frontEnd, version: this.version, ...cell })
  }

  /** Write this front end's cells and print them (call from a top-level after()). */
  finish(): void {
    const dir = resultsDir()
    mkdirSync(dir, { recursive: true })
    const file: ResultsFile = { frontEnd: this.frontEnd, version: this.version, written: new Date().toISOString(), cells: this.cells }
    writeFileSync(join(dir, `${this.frontEnd}.json`), JSON.stringify(file, null, 1))
    console.log(formatMatrix(this.cells))
  }
}

export function readResults(dir = resultsDir()): ResultsFile[] {
  let names: string[] = []
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
  return names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as ResultsFile)
}

const MARK: Record<Outcome, string> = { pass: 'ok', fail: 'FAIL', limitation: 'lim', skip: 'skip' }

/** A plain-text matrix: one row per suite, one column per case, then the notes. */
export function formatMatrix(cells: Cell[]): string {
  const cases: string[] = []
  const rows = new Map<string, Map<string, Cell>>()
  for (const c of cells) {
    if (!cases.includes(c.case)) cases.push(c.case)
    const key = `${c.frontEnd} | ${c.mode} | ${c.transport} | ${c.engine}`
    if (!rows.has(key)) rows.set(key, new Map())
    rows.get(key)!.set(c.case, c)
  }
  const keyWidth = Math.max(5, ...[...rows.keys()].map((k) => k.length))
  const width = (name: string) => Math.max(name.length, 4)
  const lines: string[] = []
  lines.push(`${'suite'.padEnd(keyWidth)} | ${cases.map((n) => n.padEnd(width(n))).join(' | ')}`)
  lines.push(`${'-'.repeat(keyWidth)}-|-${cases.map((n) => '-'.repeat(width(n))).join('-|-')}`)
  for (const [key, row] of rows) {
    lines.push(`${key.padEnd(keyWidth)} | ${cases.map((n) => (row.get(n) ? MARK[row.get(n)!.outcome] : '.').padEnd(width(n))).join(' | ')}`)
  }
  const counts: Record<Outcome, number> = { pass: 0, fail: 0, limitation: 0, skip: 0 }
  for (const c of cells) counts[c.outcome]++
  lines.push('')
  lines.push(`cells: ${cells.length} — pass ${counts.pass}, limitation ${counts.limitation}, fail ${counts.fail}, skip ${counts.skip}`)
  const notes = new Map<string, string[]>()
  for (const c of cells) {
    if (c.outcome === 'pass' || !c.note) continue
    const k = `${MARK[c.outcome]} ${c.frontEnd} ${c.case}: ${c.note}`
    if (!notes.has(k)) notes.set(k, [])
    notes.get(k)!.push(`${c.mode}/${c.transport}/${c.engine}`)
  }
  for (const [k, where] of notes) lines.push(`${k}  [${where.length === 1 ? where[0] : `${where.length} suites`}]`)
  return lines.join('\n')
}
