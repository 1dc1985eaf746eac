/**
 * One OS process of the multi-process race, started by raceWorkers (@getorcreate/test-support): says `ready`
 * once its pool is warm, waits for `go`, races, reports `{ outcomes, readsUnderLock }`. Never more statements
 * in flight than its pool has connections: the single calls (one statement at a time each) run `pool` at
 * once, shuffled in blocks of two keys (`seed`), so a key's callers are in flight together. With `batches`, it
 * also runs that many `getOrCreateMany` calls over all the slugs, one at a time, each in its own order (as
 * given, reversed, rotated, starting at `firstBatch`), beside the single calls: a batch runs up to
 * GET_OR_CREATE_MANY_CONCURRENCY statements at once, so it takes that many of the pool's places.
 */

import { setTimeout as delay } from 'node:timers/promises'
import { GET_OR_CREATE_MANY_CONCURRENCY, getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import {
  type RaceOutcome,
  readyThenGo,
  reportResult,
  shuffledInBlocks,
  workerJob,
} from '@getorcreate/test-support'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { redisLockStrategy } from '../../src/index.js'
import { itemsTable } from '../support/postgres.js'
import { readyClients } from '../support/redis.js'

interface Config {
  readonly databaseUrl: string
  readonly table: string
  readonly redisUrls: readonly string[]
  readonly slugs: readonly string[]
  readonly callersPerKey: number
  readonly pool: number
  /** `getOrCreateMany` calls over every slug, besides `callersPerKey` single calls per slug. Default 0. */
  readonly batches?: number
  /** The strategies' `acquireTimeoutMs`. Default 60,000. */
  readonly acquireTimeoutMs?: number
  /** The order of this process's first batch (then the next ones, round). Default 0. */
  readonly firstBatch?: number
  /** Seed of the single calls' order. */
  readonly seed: number
}

const config = workerJob<Config>()
const sql = postgres(config.databaseUrl, { max: config.pool, onnotice: () => undefined })
const clients = await readyClients(config.redisUrls)
await Promise.all(Array.from({ length: config.pool }, () => sql`select 1`))
const inner = drizzleStore(drizzle(sql), itemsTable(config.table))
// Count the reads made under the lock, to show the callers really queued on it.
let readsUnderLock = 0
const store: typeof inner = {
  ...inner,
  find: (key, opts) => {
    if (opts?.fresh) readsUnderLock++
    return inner.find(key, opts)
  },
}
// Four processes racing saturate the CPU: a generous command bound keeps slow answers from counting as dead
// nodes (the default 1 s is for real outages).
// Four independent strategies per process: 16 lock contenders per key across the four processes (callers of
// one strategy in one process share a lock acquisition).
const strategies = Array.from({ length: 4 }, () =>
  redisLockStrategy({
    clients,
    acquireTimeoutMs: config.acquireTimeoutMs ?? 60_000,
    commandTimeoutMs: 5_000,
  }),
)

/**
 * The pool's places, taken in turn: a single call takes one, a batch GET_OR_CREATE_MANY_CONCURRENCY, so the
 * statements in flight never outnumber the pool's connections. A batch goes first in the queue: it waits only
 * for the calls in flight, and the queued single calls wait for it.
 */
class Places {
  #free: number
  readonly #queue: { readonly count: number; readonly resolve: () => void }[] = []
  constructor(count: number) {
    this.#free = count
  }
  async run<T>(count: number, body: () => Promise<T>): Promise<T> {
    if (count > this.#free || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        const waiter = { count, resolve }
        if (count > 1) this.#queue.unshift(waiter)
        else this.#queue.push(waiter)
      })
    } else {
      this.#free -= count
    }
    try {
      return await body()
    } finally {
      this.#free += count
      for (let next = this.#queue[0]; next !== undefined && next.count <= this.#free; next = this.#queue[0]) {
        this.#queue.shift()
        this.#free -= next.count
        next.resolve()
      }
    }
  }
}
const places = new Places(config.pool)
if (GET_OR_CREATE_MANY_CONCURRENCY > config.pool && (config.batches ?? 0) > 0) {
  throw new Error(`a batch needs ${GET_OR_CREATE_MANY_CONCURRENCY} connections, the pool has ${config.pool}`)
}

await readyThenGo()

/** The slugs in the `b`-th batch's order: as given, reversed, then rotated by a different amount each. */
const orderOf = (b: number): string[] => {
  const slugs = [...config.slugs]
  if (b % 2 === 1) slugs.reverse()
  const by = Math.floor(b / 2) * 7
  return [...slugs.slice(by % slugs.length), ...slugs.slice(0, by % slugs.length)]
}
/** The single calls, each taking one place: `pool` at once while no batch runs in this process. */
const calls = shuffledInBlocks(config.slugs, config.callersPerKey, 2, config.seed)
let startedSingles = 0
const seen = new Map<string, number>()
const singles = calls.map(async (slug): Promise<RaceOutcome[]> => {
  const n = seen.get(slug) ?? 0
  seen.set(slug, n + 1)
  const strategy = strategies[n % strategies.length]!
  return places.run(1, async () => {
    startedSingles++
    // Wall-clock milliseconds, so that the calls of the four processes can be compared (contendedKeys).
    const start = performance.timeOrigin + performance.now()
    const { row, created } = await getOrCreate(store, { slug }, { payload: String(process.pid) }, strategy)
    return [{ key: slug, id: row.id, created, start, end: performance.timeOrigin + performance.now() }]
  })
})
/**
 * This process's batches, one at a time, spread over the single calls: the `k`-th once `k / batches` of them
 * have started (the first at once), in order `firstBatch + k` (each process starts at another).
 */
const batchCount = config.batches ?? 0
const batches = (async () => {
  const outcomes: RaceOutcome[] = []
  for (let k = 0; k < batchCount; k++) {
    while (startedSingles < (k * calls.length) / batchCount) await delay(5)
    const b = (config.firstBatch ?? 0) + k
    const order = orderOf(b % 4)
    const strategy = strategies[b % strategies.length]!
    const results = await places.run(GET_OR_CREATE_MANY_CONCURRENCY, () =>
      getOrCreateMany(
        store,
        order.map((slug) => ({ key: { slug }, defaults: { payload: `batch ${process.pid}` } })),
        strategy,
      ),
    )
    for (const [i, { row, created }] of results.entries())
      outcomes.push({ key: order[i]!, id: row.id, created })
  }
  return outcomes
})()
const outcomes: RaceOutcome[] = (await Promise.all([batches, ...singles])).flat()
reportResult({ outcomes, readsUnderLock })
for (const client of clients) client.disconnect()
await sql.end({ timeout: 5 })
