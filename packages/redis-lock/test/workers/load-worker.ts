/**
 * One OS process of the fenced load (fenced-load.test.ts), started by startWorker (@getorcreate/test-support)
 * once for every run of the file: it says `ready`, then, for each run, reads a `job <JSON>` line on stdin,
 * opens that run's store (`target`, support/items-store.ts: a pool of `target.pool` connections on Postgres
 * or MariaDB, the SQLite file's one connection) and connects to its Redis nodes and says `set`, waits for
 * `go`, runs every key `callersPerKey` times with `inFlight` calls at once through four independent
 * strategies, while its parent stops and resumes it (SIGSTOP / SIGCONT) and restarts a Redis node, saying
 * `progress` every 100 calls done, closes the store and prints `result <JSON>`. It exits when stdin ends.
 *
 * Some writes pause inside the store, after every check the strategy makes before a write: the worker prints
 * `writing` and waits `markDelayMs` before the write goes out, so that the parent stops it there, past the TTL
 * (a fraction `markRate` of writes, drawn from `seed`). A call that fails with a retryable error
 * (`LOCK_LOST`, `LOCK_UNAVAILABLE`: nothing was written) is called again, up to `attempts` times in all, as
 * an application would.
 *
 * The store: the fenced drizzleStore with `target.fences`; without, the plain one reduced to `find` and
 * `insert` (the control run: the write after a fresh read, the window a lock with a TTL leaves open).
 */
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { type RaceOutcome, reportResult, runConcurrently, shuffledInBlocks } from '@getorcreate/test-support'
import type { Redis } from 'ioredis'
import { redisLockStrategy } from '../../src/index.js'
import {
  type AnyStore,
  type ItemsTarget,
  interceptedStore,
  type OpenStore,
  openItemsStore,
} from '../support/items-store.js'
import { readyClients } from '../support/redis.js'
import { seededRandom } from '../support/seeded.js'

/** One run, a `job <JSON>` line. */
export interface LoadJob {
  /** The items table, fenced or not; its pool is this process's connections. */
  readonly target: ItemsTarget
  /** Calls in flight in this process. */
  readonly inFlight: number
  readonly redisUrls: readonly string[]
  readonly slugs: readonly string[]
  readonly callersPerKey: number
  /** Keys whose calls are shuffled together (`shuffledInBlocks`); the same `orderSeed` in every process. */
  readonly keysPerBlock: number
  readonly orderSeed: number
  readonly ttlMs: number
  /** This process's seed, for the writes it pauses. */
  readonly seed: number
  readonly markRate: number
  readonly markDelayMs: number
  readonly attempts: number
}
/** A call that still failed after its attempts: its key and its error's code (or message). */
export interface LoadFailure {
  readonly key: string
  readonly error: string
}

/** What this process reports. */
export interface LoadReport {
  /** One per call that returned. */
  readonly outcomes: RaceOutcome[]
  /** One per call that did not, after its attempts. */
  readonly failures: LoadFailure[]
  /** Every retryable error seen, retried or final, by code. */
  readonly retryable: Record<string, number>
  /** Writes the store refused with LOCK_LOST: a newer owner's token was in the fence. */
  readonly refusedByFence: number
  /** Writes that paused for the parent (`writing`). */
  readonly marked: number
  /** Writes sent to the store. */
  readonly writes: number
}

const RETRYABLE = new Set(['LOCK_LOST', 'LOCK_UNAVAILABLE'])
/** A `progress` line every this many calls done. */
const PROGRESS_EVERY = 100

/** One run of `job` on `inner` over `clients`, once the parent says `go`. */
async function run(job: LoadJob, clients: Redis[], inner: AnyStore): Promise<LoadReport> {
  const random = seededRandom(job.seed)
  let marked = 0
  let writes = 0
  let refusedByFence = 0
  /** A write: maybe pause for the parent first (it may stop this process here), then send it. */
  async function write<T>(send: () => Promise<T>): Promise<T> {
    writes++
    if (random() < job.markRate) {
      marked++
      process.stdout.write('writing\n')
      await delay(job.markDelayMs)
    }
    try {
      return await send()
    } catch (error) {
      if (isGetOrCreateError(error) && error.code === 'LOCK_LOST') refusedByFence++
      throw error
    }
  }
  const store = interceptedStore(inner, write)
  // Independent lock contenders: callers of one strategy in one process share a lock acquisition.
  const strategies = Array.from({ length: 4 }, () =>
    redisLockStrategy({ clients, ttlMs: job.ttlMs, acquireTimeoutMs: 10_000 }),
  )
  const retryable: Record<string, number> = {}
  const calls = shuffledInBlocks(job.slugs, job.callersPerKey, job.keysPerBlock, job.orderSeed)
  let settled = 0
  const { results } = await runConcurrently(
    calls,
    job.inFlight,
    async (slug, i): Promise<RaceOutcome | LoadFailure> => {
      const strategy = strategies[i % strategies.length]!
      for (let attempt = 1; ; attempt++) {
        try {
          const { row, created } = await getOrCreate(
            store,
            { slug },
            { payload: String(process.pid) },
            strategy,
          )
          return { key: slug, id: row.id, created }
        } catch (error) {
          const code = isGetOrCreateError(error) ? error.code : undefined
          if (code !== undefined && RETRYABLE.has(code)) {
            retryable[code] = (retryable[code] ?? 0) + 1
            if (attempt < job.attempts) continue
          }
          return { key: slug, error: code ?? String(error) }
        }
      }
    },
    {
      onSettled: () => {
        if (++settled % PROGRESS_EVERY === 0) process.stdout.write('progress\n')
      },
    },
  )
  const outcomes: RaceOutcome[] = []
  const failures: LoadFailure[] = []
  for (const result of results) {
    if (result === undefined) throw new Error('a call neither returned nor reported its failure')
    if ('error' in result) failures.push(result)
    else outcomes.push(result)
  }
  return { outcomes, failures, retryable, refusedByFence, marked, writes }
}

process.stdout.write('ready\n')
let pending: { job: LoadJob; clients: Redis[]; opened: OpenStore } | undefined
for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith('job ')) {
    const job = JSON.parse(line.slice('job '.length)) as LoadJob
    pending = { job, clients: await readyClients(job.redisUrls), opened: await openItemsStore(job.target) }
    process.stdout.write('set\n')
  } else if (line === 'go' && pending) {
    const { job, clients, opened } = pending
    pending = undefined
    const report = await run(job, clients, opened.store)
    for (const client of clients) client.disconnect()
    await opened.close()
    reportResult(report)
  }
}
