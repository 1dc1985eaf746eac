/**
 * `pnpm stress`: worker processes racing getOrCreate on one key space, on Postgres (postgres.js and
 * node-postgres), MariaDB and SQLite, with the constraint strategy and with the Redis-lock strategy over 5
 * Redis nodes, while a seeded fault schedule hits the services and the workers; then a checker over the whole
 * history. Writes results/stress-<timestamp>/{stress.json,stress.md,throughput.svg}. Exits 1 when the checker
 * fails, 2 when the run could not be made.
 */
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import cliProgress from 'cli-progress'
import { parseStressOptions, StressUsageError, USAGE } from './options.js'
import { writeStressReport } from './report.js'
import { runStress } from './run.js'

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replaceAll(':', '-')
}

function progress(total: number) {
  if (!process.stdout.isTTY) {
    let last = 0
    return {
      update: (calls: number, left: number) => {
        if (Date.now() - last < 10_000) return
        last = Date.now()
        console.log(`${calls.toLocaleString('en-US')} calls, ${Math.round(left)} s left`)
      },
      stop: () => {},
    }
  }
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {value} calls | {left} s left', hideCursor: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0, { left: '?' })
  return {
    update: (calls: number, left: number) => {
      bar.setTotal(Math.max(total, calls))
      bar.update(calls, { left: Math.round(left) })
    },
    stop: () => bar.stop(),
  }
}

async function main(): Promise<void> {
  const options = parseStressOptions(process.argv.slice(2))
  if (options === 'help') {
    console.log(USAGE)
    return
  }
  console.log(
    `getorcreate stress: ${options.procs} workers × ${options.concurrency} in flight, ${options.durationMs / 1000} s, ` +
      `${options.dialects.join(', ')}, seed ${options.seed} (replay: --seed ${options.seed}).`,
  )
  const bar = progress(options.quick ? 50_000 : 1_000_000)
  let result: Awaited<ReturnType<typeof runStress>>
  try {
    result = await runStress(options, {
      onNetwork: (line) => console.log(`Workers: ${line}.`),
      onPlan: (lines) => console.log(`Faults:\n  ${lines.join('\n  ')}`),
      onProgress: bar.update,
    })
  } finally {
    bar.stop()
  }
  const dir =
    options.out ?? join(fileURLToPath(new URL('../../results/', import.meta.url)), `stress-${timestamp()}`)
  const command = `pnpm stress ${process.argv.slice(2).join(' ')}`.trim()
  const files = await writeStressReport(dir, result, command)
  const { verdict } = result
  console.log(
    `${verdict.ok ? 'PASS' : 'FAIL'}: ${result.calls.toLocaleString('en-US')} calls in ${Math.round(result.seconds)} s ` +
      `(${Math.round(result.calls / result.seconds).toLocaleString('en-US')}/s), ${verdict.counts.duplicates} duplicates, ` +
      `${verdict.counts.splitIds} split ids, ${verdict.counts.untypedErrors} untyped errors outside faults, ` +
      `${verdict.counts.hangs} hangs.`,
  )
  for (const line of verdict.violations) console.log(`  ${line}`)
  console.log(`Wrote ${files.join(', ')}.`)
  if (!verdict.ok) process.exitCode = 1
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main()
    .catch((error: unknown) => {
      console.error(error instanceof StressUsageError ? `stress: ${error.message}` : error)
      process.exitCode = 2
    })
    // Exit explicitly once the output is out. Left to end by itself, a run with namespaces sometimes (one short
    // run in five) never exits: with its report written and its clean-up done, Node 20 spins at 100 % CPU in
    // its exit clean-up (Environment::CleanupHandles, seen with gdb), on a TCP handle whose socket is in no
    // table of the kernel's any more. process.exit skips that clean-up; the exit hook of netns-exit.ts still runs.
    .finally(() => process.stdout.write('', () => process.exit()))
}
