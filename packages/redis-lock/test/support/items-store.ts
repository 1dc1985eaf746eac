/**
 * The items table's drizzleStore on each database the fence proofs run on, opened from a plain description
 * ({@link ItemsTarget}, JSON a worker process gets as its job) in a worker or in the test's own process; and
 * {@link interceptedStore}, the store whose writes wait for something first (a pause, a gate) after every
 * check the strategy makes.
 */
import type { Store } from '@getorcreate/core'
import { drizzleStore, mysqlFencesTable, pgFencesTable, sqliteFencesTable } from '@getorcreate/core/drizzle'
import Database from 'better-sqlite3'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import mysql from 'mysql2/promise'
import pg from 'pg'
import postgres from 'postgres'
import { mysqlItemsTable } from './mysql.js'
import { itemsTable } from './postgres.js'
import { sqliteItemsTable } from './sqlite.js'

/**
 * The databases (and Postgres drivers) the proofs run on across processes: Postgres through postgres.js or
 * node-postgres, MariaDB through mysql2, a SQLite file (WAL) through better-sqlite3.
 */
export type ItemsDialect = 'postgres' | 'node-postgres' | 'mariadb' | 'sqlite'

/** Where an items table is, and how to open a store over it. */
export interface ItemsTarget {
  readonly dialect: ItemsDialect
  /** The database URL (Postgres, MariaDB), or the SQLite file. */
  readonly url: string
  readonly table: string
  /** The fences table's name; none: the plain (unfenced) store. */
  readonly fences?: string
  /** Connections in the pool (Postgres, MariaDB; SQLite has one). Default: 2. */
  readonly pool?: number
  /**
   * Mark this process's sessions, for a test's trigger that stalls their writes (stalls.ts): the setting
   * `getorcreate.stall` on Postgres, the user variable `@getorcreate_stall` on MariaDB. On SQLite, whose
   * triggers cannot see a session, see {@link OpenOptions.onSqlite}.
   */
  readonly stallMark?: string
}

type Row = Record<string, unknown>
/** A store of any items table, as the proofs drive it. */
export type AnyStore = Store<Row, Row, Row>

/** Options of {@link openItemsStore}. */
export interface OpenOptions {
  /** Called with the SQLite connection once it is open (a test's stall installs itself on it). */
  readonly onSqlite?: (client: Database.Database) => void
}

/** An open store and how to close its connections. */
export interface OpenStore {
  readonly store: AnyStore
  close(): Promise<void>
}

/** `drizzleStore(db, table)`, fenced by `fences` when given: the overload is picked at run time. */
function storeOf(db: unknown, table: unknown, fences: unknown): AnyStore {
  return (fences === undefined
    ? drizzleStore(db as never, table as never)
    : drizzleStore(db as never, table as never, { fences: fences as never })) as unknown as AnyStore
}

/** Open the store `target` describes, with every connection of its pool made before it returns. */
export async function openItemsStore(target: ItemsTarget, options: OpenOptions = {}): Promise<OpenStore> {
  const pool = target.pool ?? 2
  const fencesOf = <T>(make: (name: string) => T) =>
    target.fences === undefined ? undefined : make(target.fences)
  const warm = (query: () => Promise<unknown>) => Promise.all(Array.from({ length: pool }, query))
  const mark = target.stallMark
  switch (target.dialect) {
    case 'postgres': {
      const sql = postgres(target.url, {
        max: pool,
        onnotice: () => undefined,
        ...(mark !== undefined && { connection: { 'getorcreate.stall': mark } }),
      })
      await warm(() => sql`select 1`)
      return {
        store: storeOf(drizzlePostgresJs(sql), itemsTable(target.table), fencesOf(pgFencesTable)),
        close: () => sql.end({ timeout: 5 }),
      }
    }
    case 'node-postgres': {
      const client = new pg.Pool({
        connectionString: target.url,
        max: pool,
        ...(mark !== undefined && { options: `-c getorcreate.stall=${mark}` }),
      })
      await warm(() => client.query('select pg_sleep(0.01)'))
      return {
        store: storeOf(drizzleNodePg(client), itemsTable(target.table), fencesOf(pgFencesTable)),
        close: () => client.end(),
      }
    }
    case 'mariadb': {
      const client = mysql.createPool({ uri: target.url, connectionLimit: pool, maxIdle: pool })
      if (mark !== undefined) {
        // Before any statement of the store: commands on one connection run in order.
        client.pool.on('connection', (connection) => {
          connection.query('set @getorcreate_stall = ?', [mark], (error) => {
            if (error) console.error('could not mark a MariaDB session', error)
          })
        })
      }
      await warm(() => client.query('select sleep(0.01)'))
      return {
        store: storeOf(
          drizzleMysql(client, { mode: 'default' }),
          mysqlItemsTable(target.table),
          fencesOf(mysqlFencesTable),
        ),
        close: () => client.end(),
      }
    }
    case 'sqlite': {
      const client = new Database(target.url)
      client.pragma('journal_mode = wal')
      // Writers queue for the one write lock; a holder stopped in its transaction keeps it a while.
      client.pragma('busy_timeout = 60000')
      options.onSqlite?.(client)
      return {
        store: storeOf(
          drizzleSqlite({ client }),
          sqliteItemsTable(target.table),
          fencesOf(sqliteFencesTable),
        ),
        close: async () => void client.close(),
      }
    }
  }
}

/**
 * `inner` with each write (`insert`, `insertIfAbsentFenced`) sent through `around`, which runs after every
 * check the strategy makes before a write and may wait (a pause the parent stops the process in, a gate the
 * test opens) before it calls `send`. Only `find`, `insert`, `insertIfAbsentFenced` and `lockIdentity` are
 * kept: without a fence, the write is the unconditional `insert` after a fresh read (no
 * `insertIfAbsentUnderLock`, whose own read would find a row committed while it waited), the window a lock
 * with a TTL leaves open.
 */
export function interceptedStore<R, K, V>(
  inner: Store<R, K, V>,
  around: <T>(send: () => Promise<T>) => Promise<T>,
): Store<R, K, V> {
  const fenced = inner.insertIfAbsentFenced
  return {
    name: inner.name,
    ...(inner.checksFence !== undefined && { checksFence: inner.checksFence }),
    find: (key, opts) => inner.find(key, opts),
    insert: (values, opts) => around(() => inner.insert(values, opts)),
    ...(fenced && {
      insertIfAbsentFenced: (key: K, values: V, fence) =>
        around(() => fenced.call(inner, key, values, fence)),
    }),
    ...(inner.lockIdentity && { lockIdentity: inner.lockIdentity.bind(inner) }),
  }
}
