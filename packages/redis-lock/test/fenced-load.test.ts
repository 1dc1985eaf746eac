/**
 * Fenced writes under load, with faults (issue 12, proofs 2 and 3): four worker processes run 200 keys, each
 * key called 4 times per process (16 callers per key, 3,200 calls), 8 calls in flight per process, on a table
 * with no unique index, through the fenced drizzleStore and redisLockStrategy with a 500 ms TTL. On Postgres
 * through postgres.js with 1, 3 and 5 Redis nodes; through node-postgres, on MariaDB and on a SQLite file
 * (WAL) that the four processes open, with 3 nodes (the whole matrix on every database would take four times
 * as long; the node count changes only the Redis side, which the postgres.js runs cover). Connections: a
 * pool of 8 per process on Postgres and MariaDB, one per process on SQLite (its writers take turns on the
 * one write lock, waiting synchronously: a process waiting for it extends no lock meanwhile). Meanwhile the
 * test:
 * - stops worker processes (SIGSTOP) for 600–1,000 ms and resumes them (SIGCONT): some as a write is about to
 *   go out (the worker says `writing` after every check the strategy makes, and waits for the stop), others
 *   at random moments;
 * - kills one Redis node (SIGKILL) once 15–50 % of the calls have returned, and starts it again, empty, on its
 *   port, before the others have.
 * Callers that get `LOCK_LOST` or `LOCK_UNAVAILABLE` (nothing written) call again, up to 5 times in all.
 * Counted exactly: one row per key, one `created: true` per key, one id for every caller of a key that
 * returned, every call accounted for, and no error but those two. The control runs, the same load and faults
 * on an unfenced store (the write after a fresh read), one per dialect (postgres.js, MariaDB, SQLite), make
 * duplicates: the test can fail.
 *
 * The workers are started once, for every run. Choices are seeded: the seed is printed, `LOAD_SEED=<seed>`
 * replays them (not the timing between processes).
 */
import { randomInt } from 'node:crypto'
import { type RaceOutcome, raceViolations, startWorker, type Worker } from '@getorcreate/test-support'
import { startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { itemsDatabase } from './support/items-database.js'
import type { ItemsDialect } from './support/items-store.js'
import { between, seededRandom } from './support/seeded.js'
import { Stopper, WorkerLines } from './support/stopper.js'
import type { LoadJob, LoadReport } from './workers/load-worker.js'

const loadWorker = new URL('./workers/load-worker.ts', import.meta.url)
const KEYS = 200
const PROCESSES = 4
const CALLERS_PER_PROCESS = 4
const IN_FLIGHT = 8
const TTL_MS = 500
const slugs = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
const CALLS = KEYS * PROCESSES * CALLERS_PER_PROCESS
const RETRYABLE = ['LOCK_LOST', 'LOCK_UNAVAILABLE']
/** A run takes 5–45 s on 2 shared cores; up to minutes when other test runs load them. */
const RUN_TIMEOUT_MS = 600_000
const SEED = Number(process.env.LOAD_SEED ?? randomInt(2 ** 31))
console.log(`fenced-load seed ${SEED} (LOAD_SEED=${SEED} replays its choices)`)

let workers: Worker[] = []
let lines: WorkerLines[] = []
/** What the run going on does with the workers' lines. */
let onLine: ((w: number, line: string) => void) | undefined
beforeAll(async () => {
  workers = Array.from({ length: PROCESSES }, () => startWorker(loadWorker, null, { timeoutMs: 1_200_000 }))
  lines = workers.map((worker, w) => new WorkerLines(worker, (line) => onLine?.(w, line)))
  await Promise.all(lines.map((reader) => reader.next('ready')))
})
afterAll(async () => {
  for (const worker of workers) worker.child.stdin.end()
  await Promise.all(workers.map((worker) => worker.done.catch(() => worker.kill())))
})

/** One run of the load with its faults on `dialect`, on `count` new Redis nodes; fenced or not. */
async function loadRun(dialect: ItemsDialect, count: number, fenced: boolean, seed: number) {
  const nodes = await startRedisNodes(count)
  const random = seededRandom(seed)
  const db = await itemsDatabase(dialect, fenced)
  const running = workers.map(() => false)
  const run = new Stopper(workers, random, {
    atWrites: 6,
    atRandom: 4,
    minMs: TTL_MS + 100,
    maxMs: 2 * TTL_MS,
  })
  try {
    workers.forEach((worker, w) => {
      const job: LoadJob = {
        target: { ...db.target, pool: IN_FLIGHT },
        inFlight: IN_FLIGHT,
        redisUrls: nodes.map((node) => node.url),
        slugs,
        callersPerKey: CALLERS_PER_PROCESS,
        keysPerBlock: 2,
        orderSeed: seed,
        ttlMs: TTL_MS,
        seed: seed + w + 1,
        markRate: 0.1,
        markDelayMs: 200,
        attempts: 5,
      }
      worker.child.stdin.write(`job ${JSON.stringify(job)}\n`)
    })
    await Promise.all(lines.map((reader) => reader.next('set')))
    // The node restarts once this many `progress` lines (100 calls each) have come: 15–50 % of the calls.
    const restartAt = between(random, 5, 16)
    let progress = 0
    let restarting: Promise<number> | undefined
    const restart = () => {
      const victim = nodes[between(random, 0, nodes.length - 1)]!
      restarting = victim.restart().then(() => progress)
      restarting.catch(() => undefined) // awaited after the run
    }
    onLine = (w, line) => {
      if (line === 'writing') run.atWrite(w)
      else if (line === 'progress' && ++progress === restartAt) restart()
    }
    const startedAt = performance.now()
    for (const worker of workers) worker.child.stdin.write('go\n')
    running.fill(true)
    const results = lines.map(async (reader, w) => {
      const line = await reader.next('result ')
      running[w] = false
      return JSON.parse(line.slice('result '.length)) as LoadReport
    })
    const randomStops = run.atRandom((w) => running[w] === true)
    const reports = await Promise.all(results)
    const ms = Math.round(performance.now() - startedAt)
    await randomStops
    // Calls had returned before the node was killed, and others had not by the time it was back.
    const progressWhenBack = await restarting
    const restartedMidRun = progressWhenBack !== undefined && progressWhenBack < CALLS / 100

    const outcomes: RaceOutcome[] = reports.flatMap((report) => report.outcomes)
    const failures = reports.flatMap((report) => report.failures)
    const retryable: Record<string, number> = {}
    for (const report of reports) {
      for (const [code, n] of Object.entries(report.retryable)) retryable[code] = (retryable[code] ?? 0) + n
    }
    const sum = (pick: (report: LoadReport) => number) => reports.reduce((n, report) => n + pick(report), 0)
    const rowsByKey = await db.countBySlug()
    const total = await db.total()
    const figures = {
      dialect,
      nodes: count,
      fenced,
      ms,
      writeStops: run.writeStops,
      randomStops: run.randomStops,
      restartedAtCalls: restartAt * 100,
      restartedMidRun,
      writes: sum((report) => report.writes),
      refusedByFence: sum((report) => report.refusedByFence),
      retryable,
      failures: failures.length,
      rows: total,
    }
    console.log(`seed ${seed}: ${JSON.stringify(figures)}`)
    return { outcomes, failures, rowsByKey, total, figures }
  } finally {
    onLine = undefined
    run.resumeAll()
    await db.close()
    await Promise.all(nodes.map((node) => node.stop()))
  }
}

/** The fenced runs: database, its label, Redis nodes. */
const FENCED: readonly (readonly [string, ItemsDialect, number])[] = [
  ['Postgres (postgres.js)', 'postgres', 1],
  ['Postgres (postgres.js)', 'postgres', 3],
  ['Postgres (postgres.js)', 'postgres', 5],
  ['Postgres (node-postgres)', 'node-postgres', 3],
  ['MariaDB', 'mariadb', 3],
  ['SQLite file', 'sqlite', 3],
]
/** The control runs, one per dialect, on 3 Redis nodes. */
const CONTROL: readonly (readonly [string, ItemsDialect])[] = [
  ['Postgres (postgres.js)', 'postgres'],
  ['MariaDB', 'mariadb'],
  ['SQLite file', 'sqlite'],
]

describe(`fenced writes under load: ${PROCESSES} processes × ${KEYS} keys × ${CALLERS_PER_PROCESS} callers, TTL ${TTL_MS} ms, holders stopped past it, a Redis node restarted empty`, () => {
  it.each(FENCED.map(([label, dialect, count], i) => [label, count, dialect, i] as const))(
    'fenced store, %s, %i Redis node(s): one row, one created:true, one id per key; errors only retryable ones',
    async (_, count, dialect, i) => {
      const { outcomes, failures, rowsByKey, total, figures } = await loadRun(
        dialect,
        count,
        true,
        SEED + i + 1,
      )
      // The faults happened: stops at writes and at random, and a node restarted while every worker ran.
      expect(figures.writeStops).toBeGreaterThan(0)
      expect(figures.randomStops).toBeGreaterThan(0)
      expect(figures.restartedMidRun).toBe(true)
      // Every call accounted for; a call that failed did so with a retryable error, having written nothing.
      expect(outcomes.length + failures.length).toBe(CALLS)
      expect(failures.filter((failure) => !RETRYABLE.includes(failure.error))).toEqual([])
      expect(raceViolations({ keys: slugs, outcomes, rowsByKey })).toEqual([])
      expect(total).toBe(KEYS)
    },
    RUN_TIMEOUT_MS,
  )

  it.each(CONTROL.map((run, i) => [...run, i] as const))(
    'unfenced store (the control run), %s, 3 Redis nodes: the same load and faults make duplicates',
    async (_, dialect, i) => {
      const { outcomes, failures, rowsByKey, total, figures } = await loadRun(dialect, 3, false, SEED - i)
      expect(figures.writeStops).toBeGreaterThan(0)
      expect(outcomes.length + failures.length).toBe(CALLS)
      expect(failures.filter((failure) => !RETRYABLE.includes(failure.error))).toEqual([])
      expect(raceViolations({ keys: slugs, outcomes, rowsByKey }).length).toBeGreaterThan(0)
      expect(total).toBeGreaterThan(KEYS)
    },
    RUN_TIMEOUT_MS,
  )
})
