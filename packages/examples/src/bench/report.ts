/** The results as a terminal table, a Markdown document, and files under `results/<timestamp>/`. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderChart } from './chart.js'
import { type BenchOptions, processesNote, turnMaxMs } from './options.js'
import { SOURCES_NOTE } from './packages.js'
import type { BenchResult } from './run-bench.js'
import type { Cell } from './stats.js'
import { isWrong } from './targets.js'

const HEADER = [
  'system',
  'calls/s',
  '× floor',
  'p50 ms',
  'p99 ms',
  'CPU µs/call',
  'calls',
  'duplicate rows',
  'wrong ids',
  'created / keys created',
  'errors',
]

function number(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '—'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function cells(cell: Cell): string[] {
  const floor = cell.kind === 'floor'
  return [
    cell.name,
    number(cell.rate),
    cell.ratioToFloor === undefined ? '—' : `${cell.ratioToFloor.toFixed(2)}×`,
    number(cell.p50Ms, 2),
    number(cell.p99Ms, 2),
    number(cell.cpuUsPerCall),
    number(cell.calls),
    number(cell.duplicates),
    floor ? '—' : number(cell.wrongIds),
    cell.reportsCreated
      ? `${number(cell.createdFlags)} / ${number(cell.keysCreated)}`
      : `n/a / ${number(cell.keysCreated)}`,
    number(cell.errors),
  ]
}

function verdict(cell: Cell): string {
  if (cell.kind === 'floor') return ''
  if (cell.kind === 'ours') return isWrong(cell) ? '  ✗ NOT EXACT' : ''
  return isWrong(cell) ? '  ✗' : ''
}

/** The results as aligned text lines: one table per workload, then the targets. */
export function terminalTable(result: BenchResult): string[] {
  const lines: string[] = []
  for (const workload of result.workloads) {
    const rows = result.cells.filter((cell) => cell.workload === workload.id)
    const body = rows.map(cells)
    const widths = HEADER.map((title, i) => Math.max(title.length, ...body.map((row) => row[i]!.length)))
    const line = (row: string[]) =>
      row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')
    lines.push(
      '',
      `${workload.title} (× floor: ÷ ${workload.floor === 'floor-select' ? 'one SELECT' : 'one INSERT'})`,
    )
    lines.push(line(HEADER), widths.map((width) => '─'.repeat(width)).join('  '))
    rows.forEach((cell, i) => {
      lines.push(line(body[i]!) + verdict(cell))
    })
  }
  lines.push(
    '',
    'Targets (median over rounds of the ratio in the same round and group, whose slices alternated):',
  )
  for (const expectation of result.expectations) {
    const measured =
      expectation.measured === undefined ? 'not measured' : `${expectation.measured.toFixed(2)}×`
    const mark = expectation.met === undefined ? ' ' : expectation.met ? '✓' : '✗'
    lines.push(
      `  ${mark} ${expectation.label}: ${measured} (target ${expectation.comparison} ${expectation.target})`,
    )
  }
  const errors = result.cells.filter((cell) => cell.errorSamples.length > 0)
  if (errors.length > 0) {
    lines.push('', 'Errors (first of each):')
    for (const cell of errors) lines.push(`  ${cell.workload} · ${cell.name}: ${cell.errorSamples[0]}`)
  }
  return lines
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|')
}

/** The results as Markdown: the machine, the command, one table per workload, the targets. */
function markdown(result: BenchResult, command: string): string {
  const env = result.environment
  const out: string[] = [
    `# getorcreate bench, ${result.startedAt}`,
    '',
    `- Machine: ${env.cores} cores (${env.cpus}), ${env.memoryGb} GB, load average ${env.loadAverage.join(' / ')}; Node ${env.node}; ${env.postgres} (${env.database}); ${env.redis}.`,
    `- Run: \`${command}\`: ${result.options.rounds} rounds, pool ${result.options.pool}, ${result.options.concurrency} calls in flight, ${processesNote(result.options)}, ${turnCaps(result.options)}, slices of ${result.options.sliceMs} ms; ${Math.round(result.seconds)} s.`,
    `- getorcreate measured: ${env.packages === 'built' ? 'the built packages (dist/), as installed' : SOURCES_NOTE}.`,
    "- calls/s, p50, p99 and CPU are medians over the rounds; \"× floor\" is the median of the per-round ratio to the workload's floor (one postgres.js round trip). A round runs the systems in groups, each target's two in one, whose systems take turns slice by slice. Correctness columns are sums over the rounds: duplicate rows in the table, callers told an id other than the key's first row, `created: true` answers vs keys created, errors. Only ratios within one run mean anything on a shared machine.",
  ]
  for (const workload of result.workloads) {
    out.push('', `## ${workload.title}`, '')
    out.push(
      `| ${HEADER.join(' | ')} |`,
      `| ${HEADER.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    )
    for (const cell of result.cells.filter((candidate) => candidate.workload === workload.id)) {
      const row = cells(cell).map(escapeCell)
      if (cell.kind === 'ours') row[0] = `**${row[0]}**`
      if (cell.duplicates > 0) row[7] = `**${row[7]}** ⚠`
      out.push(`| ${row.join(' | ')} |`)
    }
  }
  out.push('', '## Targets', '', '| target | measured | goal | |', '| --- | ---: | ---: | --- |')
  for (const expectation of result.expectations) {
    const measured =
      expectation.measured === undefined ? 'not measured' : `${expectation.measured.toFixed(2)}×`
    const mark = expectation.met === undefined ? '' : expectation.met ? 'met' : '**missed**'
    out.push(
      `| ${expectation.label} | ${measured} | ${expectation.comparison} ${expectation.target}× | ${mark} |`,
    )
  }
  const errors = result.cells.filter((cell) => cell.errorSamples.length > 0)
  if (errors.length > 0) {
    out.push('', '## Errors (first of each)', '')
    for (const cell of errors)
      out.push(`- ${cell.workload} · ${escapeCell(cell.name)}: \`${cell.errorSamples[0]}\``)
  }
  out.push('', '![throughput per system and workload](chart.svg)', '')
  return out.join('\n')
}

/** Write `results.json`, `results.md` and `chart.svg` into `dir` (created). Returns the files written. */
export async function writeResults(dir: string, result: BenchResult, command: string): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const files = {
    'results.json': `${JSON.stringify(result, (_, value) => (value === Number.POSITIVE_INFINITY ? 'Infinity' : value), 2)}\n`,
    'results.md': markdown(result, command),
    'chart.svg': await renderChart(result),
  }
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return Object.keys(files).map((name) => join(dir, name))
}

/** The turns' time caps, as the run line says them. */
function turnCaps(options: Pick<BenchOptions, 'maxMs' | 'stormMaxMs'>): string {
  const say = (cap: number) => (Number.isFinite(cap) ? `${cap} ms per turn` : 'every call')
  const storm = turnMaxMs(options, 'miss-storm')
  const other = turnMaxMs(options, 'hits')
  if (storm === other) return say(other)
  return `${say(other)}, the miss storm every call up to ${Number.isFinite(storm) ? `${storm} ms` : 'the end'}`
}
