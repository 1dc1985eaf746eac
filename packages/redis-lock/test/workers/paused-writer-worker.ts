/**
 * A lock holder that is paused on its way to the database, started by startWorker (@getorcreate/test-support):
 * its getOrCreate takes the lock, passes every check the strategy makes before a write, and then, inside the
 * store's write, prints `writing` and waits a moment before the write reaches the database: the parent stops
 * the process there (SIGSTOP) for longer than the lock's TTL, lets another process take the lock and create
 * the row, and resumes it (SIGCONT). It reports its outcome: the row it got, or its error's code.
 *
 * `dialect` says where the items table (and `fences`) are: Postgres at `url`, a SQLite file (WAL) at `url`,
 * or MariaDB at `url`. With `fences`, the store is fenced (`drizzleStore(db, table, { fences })`); without,
 * the plain store, with `insertIfAbsentUnderLock` hidden, so that its write is the unconditional `insert`
 * after a fresh read.
 */
import { getOrCreate, isGetOrCreateError, type Store } from '@getorcreate/core'
import { drizzleStore, mysqlFencesTable, pgFencesTable, sqliteFencesTable } from '@getorcreate/core/drizzle'
import { reportResult, workerJob } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { drizzle as drizzlePg } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { redisLockStrategy } from '../../src/index.js'
import { mysqlItemsTable } from '../support/mysql.js'
import { itemsTable } from '../support/postgres.js'
import { sqliteItemsTable } from '../support/sqlite.js'

/** Where the paused writer writes. */
export type PausedWriterDialect = 'postgres' | 'sqlite' | 'mariadb'

/** The job the parent passes. */
export interface PausedWriterJob {
  readonly dialect: PausedWriterDialect
  /** The database URL (Postgres, MariaDB), or the SQLite file. */
  readonly url: string
  readonly table: string
  /** The fences table's name; none: an unfenced store. */
  readonly fences?: string
  readonly redisUrl: string
  readonly slug: string
  readonly ttlMs: number
}

type Row = Record<string, unknown>
type AnyStore = Store<Row, Row, Row>

/** The drizzle store of `job`, and how to close its connections. */
function storeOf(job: PausedWriterJob): { inner: AnyStore; close(): Promise<void> } {
  // drizzleStore's overloads, one a dialect: the job picks one at run time.
  const store = (db: unknown, table: unknown, fences: unknown) =>
    (fences === undefined
      ? drizzleStore(db as never, table as never)
      : drizzleStore(db as never, table as never, { fences: fences as never })) as unknown as AnyStore
  const fencesOf = <T>(make: (name: string) => T) => (job.fences === undefined ? undefined : make(job.fences))
  if (job.dialect === 'postgres') {
    const sql = postgres(job.url, { max: 2, onnotice: () => undefined })
    return {
      inner: store(drizzlePg(sql), itemsTable(job.table), fencesOf(pgFencesTable)),
      close: () => sql.end({ timeout: 5 }),
    }
  }
  if (job.dialect === 'mariadb') {
    const pool = mysql.createPool({ uri: job.url, connectionLimit: 2 })
    return {
      inner: store(
        drizzleMysql(pool, { mode: 'default' }),
        mysqlItemsTable(job.table),
        fencesOf(mysqlFencesTable),
      ),
      close: () => pool.end(),
    }
  }
  const client = new Database(job.url)
  client.pragma('journal_mode = wal')
  client.pragma('busy_timeout = 10000')
  return {
    inner: store(drizzleSqlite({ client }), sqliteItemsTable(job.table), fencesOf(sqliteFencesTable)),
    close: async () => void client.close(),
  }
}

const job = workerJob<PausedWriterJob>()
const client = new Redis(job.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
client.on('error', () => undefined)
await new Promise((resolve) => client.once('ready', resolve))
const { inner, close } = storeOf(job)

/** Say where we are, then give the parent time to stop this process before the write goes out. */
async function pause(): Promise<void> {
  process.stdout.write('writing\n')
  await new Promise((resolve) => setTimeout(resolve, 500))
}

const store: AnyStore = {
  name: inner.name,
  ...(inner.checksFence !== undefined && { checksFence: inner.checksFence }),
  find: (key, opts) => inner.find(key, opts),
  insert: async (values, opts) => {
    await pause()
    return inner.insert(values, opts)
  },
  ...(inner.insertIfAbsentFenced && {
    insertIfAbsentFenced: async (key: Row, values: Row, fence) => {
      await pause()
      return inner.insertIfAbsentFenced!(key, values, fence)
    },
  }),
  lockIdentity: (key) => inner.lockIdentity!(key),
}

try {
  const strategy = redisLockStrategy({ clients: client, ttlMs: job.ttlMs })
  const { row, created } = await getOrCreate(store, { slug: job.slug }, { payload: 'paused' }, strategy)
  reportResult({ id: row.id, created })
} catch (error) {
  reportResult({ error: isGetOrCreateError(error) ? error.code : String(error) })
} finally {
  client.disconnect()
  await close()
}
