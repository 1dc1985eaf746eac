/**
 * `pnpm bench`: get-or-create systems (ours, the peers people use today, and the one-round-trip floors) on the
 * same Postgres, in the same run, under three workloads; speed and correctness side by side.
 *
 * Usage: pnpm bench [--quick] [--procs N] [--isolate] [--rounds N] [--pool N] [--concurrency N]
 *                   [--max-ms N] [--storm-max-ms N] [--keys N] [--callers N] [--hot-keys N] [--calls N] [--slice-ms N]
 *                   [--systems id,…] [--workloads id,…] [--out DIR]
 * Services: DATABASE_URL (default postgres://root@127.0.0.1:5432/test), REDIS_URL (default
 * redis://127.0.0.1:6379); the 3-node Redis cases start their own redis-server processes.
 * Writes results/<timestamp>/{results.json,results.md,chart.svg}. Exits 1 if any of ours is not exact.
 */
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import {
  BenchError,
  type BenchOptions,
  estimateSeconds,
  processesNote,
  systemIds,
  type TurnEvent,
} from './options.js'
import { packagesRun, SOURCES_NOTE } from './packages.js'
import { terminalTable, writeResults } from './report.js'
import { runBench } from './run-bench.js'
import type { WorkloadId } from './system.js'
import { isWrong } from './targets.js'

const WORKLOADS: readonly WorkloadId[] = ['miss-storm', 'burst', 'hits', 'mixed']

const USAGE = `pnpm bench [options]
  --quick             a short run (under 90 s): 3 rounds of 200 ms turns, pool 4, 8 in flight
  --procs N           spread the callers over N OS processes (default 1: this process)
  --isolate           run each system in processes of its own (--procs of them), started once for the run
  --rounds N          rounds per workload (default 7; quick 3)
  --pool N            Postgres connections per system, split over the processes (default 16; quick 4)
  --concurrency N     calls in flight, split over the processes (default 32; quick 8)
  --max-ms N          stop starting calls after N ms per turn; 0 runs every call (default 1500; quick 200)
  --storm-max-ms N    the miss storm's cap per turn where longer than --max-ms: a storm turn cut short runs
                      more creates per call than a whole one (default 5000; quick 200)
  --keys N            miss storm and burst: fresh keys per turn (default 2000; quick 300)
  --callers N         callers per fresh key (default 4)
  --hot-keys N        hits and mixed: existing keys (default 1000)
  --calls N           hits and mixed: calls per turn (default 20000; quick 3000)
  --slice-ms N        the systems of a group take turns slice by slice, N ms each (default 200; quick 50)
  --systems a,b       systems to run (default all): ${systemIds.join(', ')}
  --workloads a,b     workloads to run (default all): ${WORKLOADS.join(', ')}
  --out DIR           where results go (default packages/examples/results/<timestamp>)`

function list<T extends string>(value: string | undefined, known: readonly T[], what: string): T[] {
  if (!value) return [...known]
  const chosen = value.split(',').map((item) => item.trim())
  const unknown = chosen.filter((item) => !known.includes(item as T))
  if (unknown.length > 0)
    throw new BenchError(`Unknown ${what}: ${unknown.join(', ')}. Known: ${known.join(', ')}.`)
  return known.filter((item) => chosen.includes(item))
}

function whole(value: string | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < min)
    throw new BenchError(`--${name} must be a whole number ≥ ${min}.`)
  return parsed
}

/** Parse the command line into bench options. @throws BenchError for bad options. */
export function parseOptions(
  argv: readonly string[],
): Omit<BenchOptions, 'onTurn'> & { out: string | undefined } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      procs: { type: 'string' },
      isolate: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      pool: { type: 'string' },
      concurrency: { type: 'string' },
      'max-ms': { type: 'string' },
      'storm-max-ms': { type: 'string' },
      keys: { type: 'string' },
      callers: { type: 'string' },
      'hot-keys': { type: 'string' },
      calls: { type: 'string' },
      'slice-ms': { type: 'string' },
      systems: { type: 'string' },
      workloads: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const quick = values.quick === true
  const maxMs = whole(values['max-ms'], quick ? 200 : 1500, 'max-ms', 0)
  // A quick run's turns are short: opening and closing each system's pool would take most of their time.
  const pool = whole(values.pool, quick ? 4 : 16, 'pool')
  if (pool > 32)
    throw new BenchError('--pool above 32: the shared Postgres allows 100 connections for everyone.')
  return {
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    rounds: whole(values.rounds, quick ? 3 : 7, 'rounds'),
    pool,
    concurrency: whole(values.concurrency, quick ? 8 : 32, 'concurrency'),
    procs: whole(values.procs, 1, 'procs'),
    isolate: values.isolate === true,
    maxMs: maxMs === 0 ? Number.POSITIVE_INFINITY : maxMs,
    stormMaxMs: whole(values['storm-max-ms'], quick ? 200 : 5000, 'storm-max-ms'),
    sliceMs: whole(values['slice-ms'], quick ? 50 : 200, 'slice-ms'),
    longFirstWarmup: !quick,
    sizes: {
      keys: whole(values.keys, quick ? 300 : 2000, 'keys'),
      callersPerKey: whole(values.callers, 4, 'callers'),
      hotKeys: whole(values['hot-keys'], 1000, 'hot-keys'),
      calls: whole(values.calls, quick ? 3000 : 20_000, 'calls'),
    },
    systems: list(values.systems, systemIds, 'systems'),
    workloads: list(values.workloads, WORKLOADS, 'workloads'),
    out: values.out,
  }
}

function progress(): { onTurn: (event: TurnEvent) => void; stop: () => void } {
  const describe = (event: TurnEvent) =>
    `${event.workload} · ${event.system.name} r${event.round}: ${Math.round(event.measure.rate).toLocaleString('en-US')} calls/s`
  if (!process.stdout.isTTY) {
    return {
      onTurn: (event) => {
        const width = String(event.total).length
        console.log(`[${String(event.done).padStart(width)}/${event.total}] ${describe(event)}`)
      },
      stop: () => {},
    }
  }
  const bar = new cliProgress.SingleBar(
    {
      format: '{bar} {value}/{total} turns | {eta_formatted} left | {last}',
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  return {
    onTurn(event) {
      if (!started) {
        bar.start(event.total, 0, { last: '' })
        started = true
      }
      bar.update(event.done, { last: describe(event) })
    },
    stop: () => bar.stop(),
  }
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replaceAll(':', '-')
}

async function main(): Promise<void> {
  const { out, ...options } = parseOptions(process.argv.slice(2))
  const estimate = estimateSeconds(options)
  console.log(
    `getorcreate bench: ${options.systems.length} systems × ${options.workloads.length} workloads × ${options.rounds} rounds, ` +
      `pool ${options.pool}, ${options.concurrency} in flight, ` +
      `${processesNote(options)}. ` +
      `Estimated time: ${estimate < 90 ? `${Math.round(estimate)} s` : `${Math.round(estimate / 60)} min`}.`,
  )
  if (packagesRun() === 'sources') {
    console.log(`Measuring ${SOURCES_NOTE}.`)
  }
  const bar = progress()
  let result: Awaited<ReturnType<typeof runBench>>
  try {
    result = await runBench({ ...options, onTurn: bar.onTurn })
  } finally {
    bar.stop()
  }
  for (const line of terminalTable(result)) console.log(line)
  const dir = out ?? join(fileURLToPath(new URL('../../results/', import.meta.url)), timestamp())
  const command = `pnpm bench ${process.argv.slice(2).join(' ')}`.trim()
  const files = await writeResults(dir, result, command)
  console.log(`\nWrote ${files.join(', ')} (${Math.round(result.seconds)} s).`)
  const wrong = result.cells.filter((cell) => cell.kind === 'ours' && isWrong(cell))
  if (wrong.length > 0) {
    console.error(`FAILED: ${wrong.map((cell) => `${cell.workload} · ${cell.name}`).join(', ')} not exact.`)
    process.exitCode = 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof BenchError ? `bench: ${error.message}` : error)
    process.exitCode = 2
  })
}
