/**
 * One OS process of the multi-process race, started by raceWorkers (@getorcreate/test-support): says `ready`
 * once its pool is warm, waits for `go`, races, reports `{ outcomes, readsUnderLock }`.
 */
import { getOrCreate } from '@getorcreate/core'
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
  redisLockStrategy({ clients, acquireTimeoutMs: 60_000, commandTimeoutMs: 5_000 }),
)

await readyThenGo()

const outcomes: RaceOutcome[] = await Promise.all(
  config.slugs.flatMap((slug) =>
    Array.from({ length: config.callersPerKey }, async (_, i) => {
      const strategy = strategies[i % strategies.length]!
      const { row, created } = await getOrCreate(store, { slug }, { payload: String(process.pid) }, strategy)
      return { key: slug, id: row.id, created }
    }),
  ),
)
reportResult({ outcomes, readsUnderLock })
for (const client of clients) client.disconnect()
await sql.end({ timeout: 5 })
