/**
 * A stress worker's connections and stores: per table, the call that gets or creates a key's row. Postgres
 * tables are called through postgres.js and node-postgres in turn (both drivers race on the same rows), and,
 * inside a `statement-timeout` window, through sessions opened with a 5 ms `statement_timeout`; every
 * Postgres session carries the run's application_name. The lock tables share one `redisLockStrategy` over
 * the run's 5 Redis nodes, on fenced stores.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { constraintStrategy, getOrCreate, type Store, type Strategy } from '@getorcreate/core'
import { drizzleStore, mysqlFencesTable, pgFencesTable, sqliteFencesTable } from '@getorcreate/core/drizzle'
import { redisLockStrategy } from '@getorcreate/redis-lock'
import Database from 'better-sqlite3'
import { drizzle as sqliteDrizzle } from 'drizzle-orm/better-sqlite3'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle as mysqlDrizzle } from 'drizzle-orm/mysql2'
import { drizzle as pgDrizzle } from 'drizzle-orm/node-postgres'
import { drizzle as postgresDrizzle } from 'drizzle-orm/postgres-js'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import mysql from 'mysql2/promise'
import pg from 'pg'
import postgres from 'postgres'
import { connectRedisNodes, quitRedis } from '../redis.js'
import { tagsTable } from '../tags.js'
import type { StressJob, WorkerWindow } from './protocol.js'
import type { CallResult } from './recorder.js'
import type { TableSpec } from './tables.js'

type Row = { id: number; slug: string; label: string | null }
type AnyStore = Store<Row, { slug: string }, Partial<Row>>

/** A worker's open stores: `call(table, key)` per table, and `close()`. */
export interface OpenStores {
  /** Set when the worker got `go`: the windows are counted from it (`Date.now()` ms). */
  start(epoch: number): void
  /** The next call on `table`: through which driver and sessions (`postgres.js`, `node-postgres+timeout`, …). */
  pick(table: number): { readonly via: string; call(key: string): Promise<CallResult> }
  close(): Promise<void>
}

/** The Postgres stores of a table, in the order they are made. */
const PG_VIA = ['postgres.js', 'node-postgres', 'postgres.js+timeout', 'node-postgres+timeout']

function inWindow(windows: readonly WorkerWindow[], kind: WorkerWindow['kind'], epoch: number): boolean {
  const now = Date.now() - epoch
  return windows.some((window) => window.kind === kind && window.start <= now && now < window.end)
}

/**
 * The reconnect delay of the stress run's postgres.js pools, in seconds: 50 ms doubling, at most 1 s.
 * postgres.js waits backoff(n) before it reconnects, n counting the pool's connections that closed with an
 * error since one last connected: after a terminate wave n is the pool's size, and its default (up to 20 s)
 * holds a call past its bound.
 */
export function boundedBackoff(attempt: number): number {
  return Math.min(0.05 * 2 ** attempt, 1)
}

function postgresPools(job: StressJob, statementTimeout?: number) {
  const connection = {
    application_name: job.applicationName,
    ...(statementTimeout ? { statement_timeout: statementTimeout } : {}),
  }
  const max = statementTimeout ? 1 : job.pool
  // fetch_types: false: postgres.js reads the array types on each new connection in a query of its own that
  // no caller awaits, so a statement_timeout or a terminated backend during it is an unhandled rejection
  // (seen here with postgres.js 3.4.9). The tables have no array columns.
  const js = postgres(job.services.databaseUrl, {
    max,
    connection,
    onnotice: () => {},
    fetch_types: false,
    // A call waiting for a connection that cannot be made gives up within its bound (the default is 30 s).
    connect_timeout: 10,
    backoff: boundedBackoff,
    ...(statementTimeout ? { idle_timeout: 2 } : {}),
  })
  const node = new pg.Pool({
    connectionString: job.services.databaseUrl,
    max,
    application_name: job.applicationName,
    connectionTimeoutMillis: 10_000,
    ...(statementTimeout ? { statement_timeout: statementTimeout, idleTimeoutMillis: 2_000 } : {}),
  })
  // An idle client whose backend was terminated emits 'error' on the pool: not a call's error.
  node.on('error', () => {})
  return { js, node, close: () => Promise.all([js.end({ timeout: 2 }), node.end()]) }
}

/**
 * Open every connection and store of `job`; `onMysqlConnection` hears the id of each MariaDB connection the
 * pool opens (the parent kills only those).
 */
export async function openStores(
  job: StressJob,
  onMysqlConnection: (threadId: number) => void,
): Promise<OpenStores> {
  const closers: (() => Promise<unknown>)[] = []
  const needs = (dialect: TableSpec['dialect']) => job.tables.some((table) => table.dialect === dialect)
  const pgMain = needs('pg') ? postgresPools(job) : undefined
  const pgTimeout = needs('pg') ? postgresPools(job, 5) : undefined
  for (const pools of [pgMain, pgTimeout]) if (pools) closers.push(pools.close)
  const my = needs('mysql')
    ? mysql.createPool({ uri: job.services.mysqlUrl, connectionLimit: job.pool, connectTimeout: 10_000 })
    : undefined
  if (my) {
    my.on('connection', (connection) => onMysqlConnection(connection.threadId))
    closers.push(() => my.end())
  }
  const lite = needs('sqlite') ? new Database(job.services.sqliteFile) : undefined
  if (lite) {
    lite.pragma('journal_mode = WAL')
    lite.pragma('busy_timeout = 10000')
    closers.push(async () => lite.close())
  }
  let lock: Strategy | undefined
  if (job.tables.some((table) => table.strategy === 'lock')) {
    const clients = await connectRedisNodes(job.services.redisUrls)
    closers.push(() => quitRedis(clients))
    lock = redisLockStrategy({ clients, ttlMs: job.ttlMs, acquireTimeoutMs: job.acquireTimeoutMs })
  }
  // Without single flight: every call of a worker sends its own statements, so the database, not this
  // process, settles each race (the checker's counts are about the database).
  const constraint = constraintStrategy({ singleFlight: false })
  let epoch = Number.POSITIVE_INFINITY

  // Per table: its stores (Postgres: postgres.js, node-postgres, then the same on the timeout sessions).
  const perTable = job.tables.map((spec) => {
    let stores: AnyStore[]
    if (spec.dialect === 'pg') {
      const table = tagsTable(spec.name)
      const fences = spec.fences ? pgFencesTable(spec.fences) : undefined
      stores = [pgMain!, pgTimeout!].flatMap((pools) =>
        [postgresDrizzle(pools.js), pgDrizzle(pools.node)].map(
          (db) =>
            (fences ? drizzleStore(db, table, { fences }) : drizzleStore(db, table)) as unknown as AnyStore,
        ),
      )
    } else if (spec.dialect === 'mysql') {
      const table = mysqlTable(spec.name, {
        id: int('id').autoincrement().primaryKey(),
        slug: varchar('slug', { length: 100 }).notNull(),
        label: varchar('label', { length: 200 }),
      })
      const fences = spec.fences ? mysqlFencesTable(spec.fences) : undefined
      const db = mysqlDrizzle(my!, { mode: 'default' })
      stores = [
        (fences ? drizzleStore(db, table, { fences }) : drizzleStore(db, table)) as unknown as AnyStore,
      ]
    } else {
      const table = sqliteTable(spec.name, {
        id: integer('id').primaryKey(),
        slug: text('slug').notNull(),
        label: text('label'),
      })
      const fences = spec.fences ? sqliteFencesTable(spec.fences) : undefined
      const db = sqliteDrizzle({ client: lite! })
      stores = [
        (fences ? drizzleStore(db, table, { fences }) : drizzleStore(db, table)) as unknown as AnyStore,
      ]
    }
    return { spec, stores, strategy: spec.strategy === 'lock' ? lock! : constraint, turn: 0 }
  })

  return {
    start(at) {
      epoch = at
    },
    pick(index) {
      const entry = perTable[index]!
      let choice = entry.turn++ % 2
      if (entry.spec.dialect !== 'pg') choice = 0
      else if (inWindow(job.windows, 'statement-timeout', epoch)) choice += 2
      const store = entry.stores[choice]!
      const via = entry.spec.dialect === 'pg' ? PG_VIA[choice]! : entry.spec.dialect
      const call = async (key: string) => {
        const defaults = async () => {
          if (inWindow(job.windows, 'slow-defaults', epoch)) await delay(job.slowDefaultsMs)
          return { label: key }
        }
        const { row, created } = await getOrCreate(store, { slug: key }, defaults, entry.strategy)
        return { id: row.id, created }
      }
      return { via, call }
    },
    async close() {
      await Promise.allSettled(closers.map((close) => close()))
    },
  }
}
