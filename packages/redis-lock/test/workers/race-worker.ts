/**
 * One OS process of the multi-process race: `node --conditions=@getorcreate/source --import tsx race-worker.ts <config>`.
 * Prints `ready` once its pool is warm, waits for `go` on stdin, races, prints `result <json outcomes>`.
 */
import { createInterface } from 'node:readline'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { drizzle } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { redisLockStrategy } from '../../src/index.js'
import { itemsTable, type Outcome } from '../support/postgres.js'

interface Config {
  readonly databaseUrl: string
  readonly table: string
  readonly redisUrls: readonly string[]
  readonly slugs: readonly string[]
  readonly callersPerKey: number
  readonly pool: number
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config
const sql = postgres(config.databaseUrl, { max: config.pool, onnotice: () => undefined })
const clients = config.redisUrls.map((url) => {
  const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  client.on('error', () => undefined)
  return client
})
await Promise.all(
  clients.map(
    (client) =>
      new Promise((resolve) => (client.status === 'ready' ? resolve(0) : client.once('ready', resolve))),
  ),
)
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

const lines = createInterface({ input: process.stdin })
process.stdout.write('ready\n')
for await (const line of lines) if (line.trim() === 'go') break
lines.close()

const outcomes: Outcome[] = await Promise.all(
  config.slugs.flatMap((slug) =>
    Array.from({ length: config.callersPerKey }, async (_, i) => {
      const strategy = strategies[i % strategies.length]!
      const { row, created } = await getOrCreate(store, { slug }, { payload: String(process.pid) }, strategy)
      return { slug, id: row.id, created }
    }),
  ),
)
process.stdout.write(`result ${JSON.stringify({ outcomes, readsUnderLock })}\n`)
for (const client of clients) client.disconnect()
await sql.end({ timeout: 5 })
