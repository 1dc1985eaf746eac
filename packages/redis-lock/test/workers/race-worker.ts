/**
 * One OS process of the multi-process race, started by raceWorkers (@getorcreate/test-support): says `ready`
 * once its pool is warm, waits for `go`, races, reports `{ outcomes, readsUnderLock }`. With `batches`, it
 * also runs that many `getOrCreateMany` calls over all the slugs at once, each in its own order (as given,
 * reversed, rotated), beside the single calls.
 */
import { getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { type RaceOutcome, readyThenGo, reportResult, workerJob } from '@getorcreate/test-support'
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
// Ten thousand callers on four processes saturate the CPU: a generous command bound keeps slow answers from
// counting as dead nodes (the default 1 s is for real outages).
// Four independent strategies per process: 16 lock contenders per key across the four processes (callers of
// one strategy in one process share a lock acquisition).
const strategies = Array.from({ length: 4 }, () =>
  redisLockStrategy({
    clients,
    acquireTimeoutMs: config.acquireTimeoutMs ?? 60_000,
    commandTimeoutMs: 5_000,
  }),
)

await readyThenGo()

/** The slugs in the `b`-th batch's order: as given, reversed, then rotated by a different amount each. */
const orderOf = (b: number): string[] => {
  const slugs = [...config.slugs]
  if (b % 2 === 1) slugs.reverse()
  const by = Math.floor(b / 2) * 7
  return [...slugs.slice(by % slugs.length), ...slugs.slice(0, by % slugs.length)]
}
const batches = Array.from({ length: config.batches ?? 0 }, async (_, b) => {
  const order = orderOf(b)
  const strategy = strategies[b % strategies.length]!
  const results = await getOrCreateMany(
    store,
    order.map((slug) => ({ key: { slug }, defaults: { payload: `batch ${process.pid}` } })),
    strategy,
  )
  return results.map(({ row, created }, i): RaceOutcome => ({ key: order[i]!, id: row.id, created }))
})
const singles = config.slugs.flatMap((slug) =>
  Array.from({ length: config.callersPerKey }, async (_, i): Promise<RaceOutcome[]> => {
    const strategy = strategies[i % strategies.length]!
    const { row, created } = await getOrCreate(store, { slug }, { payload: String(process.pid) }, strategy)
    return [{ key: slug, id: row.id, created }]
  }),
)
const outcomes: RaceOutcome[] = (await Promise.all([...batches, ...singles])).flat()
reportResult({ outcomes, readsUnderLock })
for (const client of clients) client.disconnect()
await sql.end({ timeout: 5 })
