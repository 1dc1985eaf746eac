/**
 * The stress run's report, in `results/stress-<timestamp>/`: stress.json (everything), stress.md (the
 * checker's verdict on top, then the counts, errors per code and per fault, RSS) and throughput.svg.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderStressChart } from './chart.js'
import { RSS_GROWTH_LIMIT_MB } from './checker.js'
import type { StressResult } from './run.js'

const n = (value: number) => value.toLocaleString('en-US')

function errorTables(result: StressResult): string[] {
  const { verdict } = result
  const kinds = Object.keys(verdict.errorsByKind).sort()
  if (kinds.length === 0) return ['No call threw.']
  const lines = [
    '| error | calls | outside every fault window |',
    '| --- | ---: | ---: |',
    ...kinds.map((kind) => {
      const { total, outsideFaults } = verdict.errorsByKind[kind]!
      return `| \`${kind}\` | ${n(total)} | ${n(outsideFaults)} |`
    }),
    '',
    `| fault | window | what | ${kinds.map((kind) => `\`${kind}\``).join(' | ')} |`,
    `| --- | --- | --- | ${kinds.map(() => '---:').join(' | ')} |`,
  ]
  const buckets = [...result.faults.map((_, i) => String(i)), 'none']
  const firsts = [
    '',
    'The first error of each kind:',
    '',
    ...kinds.map((kind) => `- \`${kind}\`: ${verdict.errorsByKind[kind]?.first}`),
  ]
  for (const bucket of buckets) {
    const counts = verdict.errorsPerFault[bucket] ?? {}
    const fault = bucket === 'none' ? undefined : result.faults[Number(bucket)]
    const window = fault
      ? `${((fault.start - result.epoch) / 1000).toFixed(1)}–${((fault.end - result.epoch) / 1000).toFixed(1)} s`
      : ''
    const name = fault ? `${bucket}: ${fault.kind}` : 'outside faults'
    const cells = kinds.map((kind) => n(counts[kind] ?? 0))
    lines.push(`| ${name} | ${window} | ${fault?.detail ?? ''} | ${cells.join(' | ')} |`)
  }
  return [...lines, ...firsts]
}

/** Per worker, the connections its link carried (namespaces only; empty for plain processes). */
function connectionLines(result: StressResult): string[] {
  if (result.connections.every((worker) => worker.from.length === 0)) return []
  return [
    "Connections through each worker's link (forwarded to the services on 127.0.0.1):",
    '',
    ...result.connections.map((worker, i) => {
      const services = Object.entries(worker.perService).map(([name, count]) => `${name} ${n(count)}`)
      return `- worker ${i}, from ${worker.from.join(', ') || 'nowhere'}: ${services.join(', ')}`
    }),
    '',
  ]
}

/** The report as Markdown. */
function stressMarkdown(result: StressResult, command: string): string {
  const { verdict } = result
  const c = verdict.counts
  const rate = Math.round(result.calls / result.seconds)
  const growth = verdict.rssGrowthMb.map(
    (mb, i) => `worker ${i}: ${mb === null ? 'too short to tell' : `${mb} MB`}`,
  )
  return [
    `# getorcreate stress: ${verdict.ok ? 'PASS' : 'FAIL'}`,
    '',
    `\`${command}\`, seed ${result.options.seed}; ${result.options.procs} workers × ${result.options.concurrency} in flight; ${result.network}.`,
    '',
    ...(verdict.ok ? [] : ['Violations:', '', ...verdict.violations.map((line) => `- ${line}`), '']),
    '| calls | seconds | calls/s | keys | duplicates | missing rows | wrong created | split ids | stray rows | untyped errors outside faults | hangs | unhandled |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${n(result.calls)} | ${Math.round(result.seconds)} | ${n(rate)} | ${n(c.keys)} | ${c.duplicates} | ${c.missingRows} | ${c.wrongCreated} | ${c.splitIds} | ${c.strayRows} | ${c.untypedErrors} | ${c.hangs} | ${c.unhandled} |`,
    '',
    ...connectionLines(result),
    `RSS growth after warm-up (limit ${RSS_GROWTH_LIMIT_MB} MB): ${growth.join(', ')}.`,
    '',
    `The run's own process (with namespaces, the forwarder of every worker's connections): event-loop delay p99 ${result.runLoopDelayMs.p99} ms, max ${result.runLoopDelayMs.max} ms.`,
    '',
    '## Errors per code and per fault',
    '',
    ...errorTables(result),
    '',
    '## Fault schedule',
    '',
    ...result.plan.map((line) => `- ${line}`),
    '',
    '## Tables',
    '',
    ...result.tables.map(
      (t) =>
        `- ${t.dialect}, ${t.strategy === 'lock' ? 'redisLockStrategy (5 nodes), fenced store' : 'constraintStrategy'}`,
    ),
    '',
    '![throughput per worker](throughput.svg)',
    '',
  ].join('\n')
}

/** Write the report's three files into `dir`; returns their paths. */
export async function writeStressReport(
  dir: string,
  result: StressResult,
  command: string,
): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const files = [join(dir, 'stress.json'), join(dir, 'stress.md'), join(dir, 'throughput.svg')]
  await writeFile(files[0]!, `${JSON.stringify({ command, ...result }, null, 2)}\n`)
  await writeFile(files[1]!, stressMarkdown(result, command))
  await writeFile(files[2]!, await renderStressChart(result))
  return files
}
