/**
 * The MariaDB variant of paused-writer-worker.ts (see there): a lock holder whose getOrCreate passes every
 * check, prints `writing` inside the store's write and waits a moment, so that the parent can stop it
 * (SIGSTOP) past the lock's TTL; it reports the row it got, or its error's code. With `fences`, the store is
 * `drizzleStore(db, mysqlTable, { fences: mysqlFencesTable(fences) })`; without, the plain store, whose write
 * under the lock is the unconditional `insert` after a fresh read.
 */
import { getOrCreate, isGetOrCreateError, type Store } from '@getorcreate/core'
import { drizzleStore, mysqlFencesTable } from '@getorcreate/core/drizzle'
import { reportResult, workerJob } from '@getorcreate/test-support'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { redisLockStrategy } from '../../src/index.js'

interface Config {
  readonly mysqlUrl: string
  readonly table: string
  /** The fences table's name; none: an unfenced store. */
  readonly fences?: string
  readonly redisUrl: string
  readonly slug: string
  readonly ttlMs: number
}

const config = workerJob<Config>()
const pool = mysql.createPool({ uri: config.mysqlUrl, connectionLimit: 2 })
const client = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
client.on('error', () => undefined)
await new Promise((resolve) => client.once('ready', resolve))
const db = drizzle(pool, { mode: 'default' })
const table = mysqlTable(config.table, {
  id: int('id').autoincrement().primaryKey(),
  slug: varchar('slug', { length: 100 }).notNull(),
  payload: varchar('payload', { length: 100 }),
})
type Item = typeof table.$inferSelect
const inner =
  config.fences === undefined
    ? drizzleStore(db, table)
    : drizzleStore(db, table, { fences: mysqlFencesTable(config.fences) })

/** Say where we are, then give the parent time to stop this process before the write goes out. */
async function pause(): Promise<void> {
  process.stdout.write('writing\n')
  await new Promise((resolve) => setTimeout(resolve, 500))
}

const store: Store<Item, Partial<Item>, typeof table.$inferInsert> = {
  name: inner.name,
  checksFence: inner.checksFence,
  find: (key, opts) => inner.find(key, opts),
  insert: async (values, opts) => {
    await pause()
    return inner.insert(values, opts)
  },
  ...(inner.insertIfAbsentFenced && {
    insertIfAbsentFenced: async (key: Partial<Item>, values: typeof table.$inferInsert, fence) => {
      await pause()
      return inner.insertIfAbsentFenced!(key, values, fence)
    },
  }),
  lockIdentity: (key) => inner.lockIdentity!(key),
}

try {
  const strategy = redisLockStrategy({ clients: client, ttlMs: config.ttlMs })
  const { row, created } = await getOrCreate(store, { slug: config.slug }, { payload: 'paused' }, strategy)
  reportResult({ id: row.id, created })
} catch (error) {
  reportResult({ error: isGetOrCreateError(error) ? error.code : String(error) })
} finally {
  client.disconnect()
  await pool.end()
}
