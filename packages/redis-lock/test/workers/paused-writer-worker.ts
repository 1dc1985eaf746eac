/**
 * A lock holder that is paused on its way to the database, started by startWorker (@getorcreate/test-support):
 * its getOrCreate takes the lock, passes every check the strategy makes before a write, and then, inside the
 * store's write, prints `writing` and waits a moment before the write reaches the database: the parent stops
 * the process there (SIGSTOP) for longer than the lock's TTL, lets another process take the lock and create
 * the row, and resumes it (SIGCONT). It reports its outcome: the row it got, or its error's code.
 *
 * With `sqliteFile`, the table (and `fences`) are in that SQLite file instead of Postgres.
 * With `fences`, the store is fenced (`drizzleStore(db, table, { fences })`); without, it is the plain store
 * with `insertIfAbsentUnderLock` hidden, so that its write is the unconditional `insert` after a fresh read.
 */
import { getOrCreate, isGetOrCreateError, type Store } from '@getorcreate/core'
import { drizzleStore, pgFencesTable, sqliteFencesTable } from '@getorcreate/core/drizzle'
import { reportResult, workerJob } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { drizzle } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { redisLockStrategy } from '../../src/index.js'
import { itemsTable } from '../support/postgres.js'
import { sqliteItemsTable } from '../support/sqlite.js'

interface Config {
  readonly databaseUrl: string
  readonly table: string
  /** The fences table's name; none: an unfenced store. */
  readonly fences?: string
  readonly redisUrl: string
  readonly slug: string
  readonly ttlMs: number
  /** A SQLite file (WAL) whose `table` (and `fences`) the store writes to, instead of Postgres. */
  readonly sqliteFile?: string
}

const config = workerJob<Config>()
const sql = postgres(config.databaseUrl, { max: 2, onnotice: () => undefined })
const client = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
client.on('error', () => undefined)
await new Promise((resolve) => client.once('ready', resolve))
const db = drizzle(sql)
const table = itemsTable(config.table)
type Item = typeof table.$inferSelect
/** The store over the SQLite file's items table, fenced with `fences`, as the Postgres one is below. */
function sqliteItemsStore(file: string) {
  const sqlite = new Database(file)
  sqlite.pragma('journal_mode = wal')
  sqlite.pragma('busy_timeout = 10000')
  const items = sqliteItemsTable(config.table)
  const sqliteDb = drizzleSqlite({ client: sqlite })
  return config.fences === undefined
    ? drizzleStore(sqliteDb, items)
    : drizzleStore(sqliteDb, items, { fences: sqliteFencesTable(config.fences) })
}

const inner =
  config.sqliteFile !== undefined
    ? sqliteItemsStore(config.sqliteFile)
    : config.fences === undefined
      ? drizzleStore(db, table)
      : drizzleStore(db, table, { fences: pgFencesTable(config.fences) })

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
  await sql.end({ timeout: 5 })
}
