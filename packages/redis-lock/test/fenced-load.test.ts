/**
 * Fenced writes under load, with faults (issue 12, proof 2): four worker processes run 200 keys, each key
 * called 4 times per process (16 callers per key, 3,200 calls), 8 calls in flight per process with a pool of
 * 8, on a Postgres table with no unique index, through the fenced drizzleStore (postgres.js) and
 * redisLockStrategy with a 500 ms TTL, on 1, 3 and 5 Redis nodes. Meanwhile the test:
 * - stops worker processes (SIGSTOP) for 600–1,000 ms and resumes them (SIGCONT): some as a write is about to
 *   go out (the worker says `writing` after every check the strategy makes, and waits for the stop), others
 *   at random moments;
 * - kills one Redis node (SIGKILL) once 15–50 % of the calls have returned, and starts it again, empty, on its
 *   port, before the others have.
 * Callers that get `LOCK_LOST` or `LOCK_UNAVAILABLE` (nothing written) call again, up to 5 times in all.
 * Counted exactly: one row per key, one `created: true` per key, one id for every caller of a key that
 * returned, every call accounted for, and no error but those two. The control run, the same load and faults
 * on an unfenced store (the write after a fresh read), makes duplicates: the test can fail.
 *
 * The workers are started once, for every run. Choices are seeded: the seed is printed, `LOAD_SEED=<seed>`
 * replays them (not the timing between processes).
 */
import { randomInt } from 'node:crypto'
import { pgFencesSql } from '@getorcreate/core/drizzle'
import {
  databaseUrl,
  type RaceOutcome,
  raceViolations,
  scratchName,
  startWorker,
  type Worker,
} from '@getorcreate/test-support'
import { type RedisNode, startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { itemsFixture } from './support/postgres.js'
import { between, seededRandom } from './support/seeded.js'
import { Stopper, WorkerLines } from './support/stopper.js'
import type { LoadJob, LoadReport } from './workers/load-worker.js'

const loadWorker = new URL('./workers/load-worker.ts', import.meta.url)
const KEYS = 200
const PROCESSES = 4
const CALLERS_PER_PROCESS = 4
const POOL = 8
const TTL_MS = 500
const slugs = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
const CALLS = KEYS * PROCESSES * CALLERS_PER_PROCESS
const RETRYABLE = ['LOCK_LOST', 'LOCK_UNAVAILABLE']
const SEED = Number(process.env.LOAD_SEED ?? randomInt(2 ** 31))
console.log(`fenced-load seed ${SEED} (LOAD_SEED=${SEED} replays its choices)`)

let workers: Worker[] = []
let lines: WorkerLines[] = []
/** What the run going on does with the workers' lines. */
let onLine: ((w: number, line: string) => void) | undefined
const nodesStarted: RedisNode[] = []
beforeAll(async () => {
  workers = Array.from({ length: PROCESSES }, () =>
    startWorker(loadWorker, { databaseUrl: databaseUrl(), pool: POOL }, { timeoutMs: 300_000 }),
  )
  lines = workers.map((worker, w) => new WorkerLines(worker, (line) => onLine?.(w, line)))
  await Promise.all(lines.map((reader) => reader.next('ready')))
})
afterAll(async () => {
  for (const worker of workers) worker.child.stdin.end()
  await Promise.all(workers.map((worker) => worker.done.catch(() => worker.kill())))
  await Promise.all(nodesStarted.map((node) => node.stop()))
})

/** One run of the load with its faults, on `count` new Redis nodes; fenced or not. */
async function loadRun(count: number, fenced: boolean, seed: number) {
  const nodes = await startRedisNodes(count)
  nodesStarted.push(...nodes)
  const random = seededRandom(seed)
  const fixture = await itemsFixture(2)
  const fences = fenced ? scratchName('rl_fences') : undefined
  const running = workers.map(() => false)
  const run = new Stopper(workers, random, {
    atWrites: 6,
    atRandom: 4,
    minMs: TTL_MS + 100,
    maxMs: 2 * TTL_MS,
  })
  try {
    if (fences) await fixture.sql.unsafe(pgFencesSql(fences))
    workers.forEach((worker, w) => {
      const job: LoadJob = {
        table: fixture.name,
        ...(fences && { fences }),
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
    const rowsByKey = await fixture.countBySlug()
    const total = await fixture.total()
    const figures = {
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
    if (fences) await fixture.sql.unsafe(`drop table if exists ${fences}`)
    await fixture.drop()
  }
}

describe(`fenced writes under load: ${PROCESSES} processes × ${KEYS} keys × ${CALLERS_PER_PROCESS} callers, TTL ${TTL_MS} ms, holders stopped past it, a Redis node restarted empty`, () => {
  it.each([1, 3, 5])(
    'fenced store, %i Redis node(s): one row, one created:true, one id per key; errors only retryable ones',
    async (count) => {
      const { outcomes, failures, rowsByKey, total, figures } = await loadRun(count, true, SEED + count)
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
  )

  it('unfenced store (the control run), 3 Redis nodes: the same load and faults make duplicates', async () => {
    const { outcomes, failures, rowsByKey, total, figures } = await loadRun(3, false, SEED)
    expect(figures.writeStops).toBeGreaterThan(0)
    expect(outcomes.length + failures.length).toBe(CALLS)
    expect(failures.filter((failure) => !RETRYABLE.includes(failure.error))).toEqual([])
    expect(raceViolations({ keys: slugs, outcomes, rowsByKey }).length).toBeGreaterThan(0)
    expect(total).toBeGreaterThan(KEYS)
  })
})
