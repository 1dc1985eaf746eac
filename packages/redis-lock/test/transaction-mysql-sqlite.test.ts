/**
 * `LOCK_IN_TRANSACTION` on MariaDB (mysql2) and SQLite (better-sqlite3), as `transaction.test.ts` proves it on
 * Postgres: a drizzleStore bound to the caller's transaction (`drizzleStore(tx, table)`: plain, fenced on
 * MariaDB, a nested transaction's; SQLite refuses to make a fenced one) says `inTransaction: true`, and
 * `getOrCreate`, `getOrCreateMany` and `updateOrCreate` through `redisLockStrategy` refuse it before any I/O
 * (no statement sent, counted through the drizzle logger, which sees the transaction's own statements; no
 * command to Redis, seen through MONITOR), writing nothing, and leave the caller's transaction usable. The same
 * store over the database itself says `inTransaction: false`, and the same calls take the lock in Redis and
 * create once.
 */
import { setTimeout as delay } from 'node:timers/promises'
import {
  getOrCreate,
  getOrCreateMany,
  isGetOrCreateError,
  LockInTransactionError,
  type Store,
  updateOrCreate,
} from '@getorcreate/core'
import {
  drizzleStore,
  mysqlFencesSql,
  mysqlFencesTable,
  sqliteFencesSql,
  sqliteFencesTable,
} from '@getorcreate/core/drizzle'
import { mysqlUrl, scratchName } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import type { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisLockStrategy, redisLockStrategy } from '../src/index.js'
import { mysqlItemsTable } from './support/mysql.js'
import { sqliteItemsTable, sqliteRunFile } from './support/sqlite.js'

/** What the calls below need of a store: an items table keyed by `slug`. */
type ItemsStore = Store<
  { id: number; slug: string; payload: string | null },
  { slug?: string },
  { slug: string; payload?: string | null }
>

let node: RedisNode
let admin: Redis
let strategy: RedisLockStrategy
beforeAll(async () => {
  node = await RedisNode.start()
  admin = await node.client()
  strategy = redisLockStrategy({ clients: await node.client() })
})
afterAll(async () => {
  await node.stop()
})

/** Every command clients sent the node while `body` ran, seen through MONITOR (not those a script ran). */
async function commandsDuring(body: () => Promise<void>): Promise<string[]> {
  const monitor = await admin.monitor()
  const seen: string[] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push(args.join(' ').toLowerCase())
  })
  await delay(50)
  try {
    await body()
    await delay(100)
  } finally {
    monitor.disconnect()
  }
  return seen
}

/** The three entry points through the lock strategy, on keys tagged `tag`: each call's result or error. */
function lockedCalls(store: ItemsStore, tag: string): Promise<unknown>[] {
  const settle = (call: Promise<unknown>) => call.catch((error: unknown) => error)
  return [
    settle(getOrCreate(store, { slug: `${tag}-one` }, { payload: 'one' }, strategy)),
    settle(
      getOrCreateMany(store, [{ key: { slug: `${tag}-many` }, defaults: { payload: 'many' } }], strategy),
    ),
    settle(updateOrCreate(store, { slug: `${tag}-update` }, { payload: 'update' }, { strategy })),
  ]
}

/** Each of `outcomes` is the strategy's refusal of a store bound to a transaction. */
function expectRefused(outcomes: readonly unknown[], calls: number): void {
  expect(outcomes).toHaveLength(calls)
  for (const error of outcomes) {
    expect(error).toBeInstanceOf(LockInTransactionError)
    expect(isGetOrCreateError(error) && error.code).toBe('LOCK_IN_TRANSACTION')
    expect((error as Error).message).toContain('drizzleStore(db, table)')
  }
}

/** Each of `outcomes` (from {@link lockedCalls}) created its row. */
function expectCreated(outcomes: readonly unknown[]): void {
  const [one, many, update] = outcomes as [{ created: boolean }, { created: boolean }[], { created: boolean }]
  expect([one.created, many.map((result) => result.created), update.created]).toEqual([true, [true], true])
}

/** The lock scripts among MONITOR lines: evidence that a call went through the Redis lock. */
function lockScripts(commands: readonly string[]): string[] {
  return commands.filter((command) => command.startsWith('evalsha') || command.startsWith('eval '))
}

describe('MariaDB (mysql2)', () => {
  /** An items table (no unique index on `slug`) and a fences table; the store's statements counted. */
  async function mariadb() {
    const name = scratchName('rl_tx_my')
    const fences = `${name}_fences`
    let statements = 0
    const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
    await pool.query(
      `create table ${name} (id int auto_increment primary key, slug varchar(100) not null, payload varchar(100))`,
    )
    await pool.query(mysqlFencesSql(fences))
    const db = drizzleMysql(pool, { logger: { logQuery: () => void statements++ }, mode: 'default' })
    const table = mysqlItemsTable(name)
    return {
      db,
      table,
      fences: mysqlFencesTable(fences),
      statements: () => statements,
      slugs: async () => {
        const [rows] = (await pool.query(`select slug from ${name} order by slug`)) as unknown as [
          { slug: string }[],
        ]
        return rows.map((row) => row.slug)
      },
      fenceRows: async () => {
        const [rows] = (await pool.query(`select count(*) as n from ${fences}`)) as unknown as [
          { n: number }[],
        ]
        return Number(rows[0]?.n)
      },
      drop: async () => {
        try {
          await pool.query(`drop table if exists ${name}, ${fences}`)
        } finally {
          await pool.end()
        }
      },
    }
  }

  it('drizzleStore(tx, table), plain and fenced: inTransaction true (a nested transaction too); every call refused with LOCK_IN_TRANSACTION before any statement or Redis command, nothing written, the transaction goes on', async () => {
    const f = await mariadb()
    try {
      const commands = await commandsDuring(async () => {
        await f.db.transaction(async (tx) => {
          const stores = [drizzleStore(tx, f.table), drizzleStore(tx, f.table, { fences: f.fences })]
          for (const store of stores) expect(store.inTransaction).toBe(true)
          await tx.transaction(async (nested) => {
            expect(drizzleStore(nested, f.table).inTransaction).toBe(true)
          })
          const before = f.statements()
          expectRefused(await Promise.all(stores.flatMap((store, i) => lockedCalls(store, `tx${i}`))), 6)
          expect(f.statements()).toBe(before)
          // The refusal left the caller's transaction alone: it writes (a statement the logger counts) and commits.
          await tx.insert(f.table).values({ slug: 'own', payload: 'the transaction' })
          expect(f.statements()).toBe(before + 1)
        })
      })
      expect(commands).toEqual([])
      expect(await f.slugs()).toEqual(['own'])
      expect(await f.fenceRows()).toBe(0)
    } finally {
      await f.drop()
    }
  })

  it('drizzleStore(db, table), plain and fenced: inTransaction false; the same calls take the Redis lock and create once, then find', async () => {
    const f = await mariadb()
    try {
      const stores = [drizzleStore(f.db, f.table), drizzleStore(f.db, f.table, { fences: f.fences })]
      for (const store of stores) expect(store.inTransaction).toBe(false)
      const commands = await commandsDuring(async () => {
        for (const [i, store] of stores.entries()) {
          expectCreated(await Promise.all(lockedCalls(store, `db${i}`)))
          const again = await getOrCreate(store, { slug: `db${i}-one` }, { payload: 'again' }, strategy)
          expect([again.created, again.row.payload]).toEqual([false, 'one'])
        }
      })
      expect(lockScripts(commands).length).toBeGreaterThanOrEqual(2 * 3 * stores.length)
      expect(await f.slugs()).toEqual(
        ['db0-many', 'db0-one', 'db0-update', 'db1-many', 'db1-one', 'db1-update'].sort(),
      )
      expect(await f.fenceRows()).toBe(3)
    } finally {
      await f.drop()
    }
  })
})

describe('SQLite (better-sqlite3)', () => {
  /** An items table (no unique index on `slug`) and a fences table in a WAL file; the store's statements counted. */
  function sqlite() {
    const file = sqliteRunFile(5_000)
    const client = file.open()
    client.exec(
      'create table items (id integer primary key, slug text not null, payload text, fence integer)',
    )
    client.exec(sqliteFencesSql('fences'))
    let statements = 0
    const db = drizzleSqlite({ client, logger: { logQuery: () => void statements++ } })
    return {
      db,
      table: sqliteItemsTable('items'),
      fences: sqliteFencesTable('fences'),
      statements: () => statements,
      slugs: () =>
        (client.prepare('select slug from items order by slug').all() as { slug: string }[]).map(
          (row) => row.slug,
        ),
      fenceRows: () => (client.prepare('select count(*) as n from fences').get() as { n: number }).n,
      close: () => {
        client.close()
        file.remove()
      },
    }
  }

  it('drizzleStore(tx, table): inTransaction true (a nested transaction too; a fenced one cannot be made); every call refused with LOCK_IN_TRANSACTION before any statement or Redis command, nothing written, the transaction goes on', async () => {
    const f = sqlite()
    try {
      const commands = await commandsDuring(async () => {
        const calls: Promise<unknown>[] = []
        let before = -1
        // better-sqlite3's transactions are synchronous: the calls start inside, and settle after it commits;
        // a store bound to it must be refused all the same, and send nothing.
        f.db.transaction((tx) => {
          const store = drizzleStore(tx, f.table)
          expect(store.inTransaction).toBe(true)
          // A fenced store cannot even be made over a transaction on SQLite (its create runs a transaction of
          // its own): refused at once, before any call.
          expect(() => drizzleStore(tx, f.table, { fences: f.fences })).toThrow(
            /needs the database, not a transaction/,
          )
          tx.transaction((nested) => {
            expect(drizzleStore(nested, f.table).inTransaction).toBe(true)
          })
          before = f.statements()
          calls.push(...lockedCalls(store, 'tx'))
          // The refusal leaves the caller's transaction alone: it writes (a statement the logger counts).
          tx.insert(f.table).values({ slug: 'own', payload: 'the transaction' }).run()
        })
        expectRefused(await Promise.all(calls), 3)
        expect(f.statements()).toBe(before + 1)
      })
      expect(commands).toEqual([])
      expect(f.slugs()).toEqual(['own'])
      expect(f.fenceRows()).toBe(0)
    } finally {
      f.close()
    }
  })

  it('drizzleStore(db, table), plain and fenced: inTransaction false; the same calls take the Redis lock and create once, then find', async () => {
    const f = sqlite()
    try {
      const stores = [drizzleStore(f.db, f.table), drizzleStore(f.db, f.table, { fences: f.fences })]
      for (const store of stores) expect(store.inTransaction).toBe(false)
      const commands = await commandsDuring(async () => {
        for (const [i, store] of stores.entries()) {
          expectCreated(await Promise.all(lockedCalls(store, `db${i}`)))
          const again = await getOrCreate(store, { slug: `db${i}-one` }, { payload: 'again' }, strategy)
          expect([again.created, again.row.payload]).toEqual([false, 'one'])
        }
      })
      expect(lockScripts(commands).length).toBeGreaterThanOrEqual(2 * 3 * stores.length)
      expect(f.slugs()).toEqual(['db0-many', 'db0-one', 'db0-update', 'db1-many', 'db1-one', 'db1-update'])
      expect(f.fenceRows()).toBe(3)
    } finally {
      f.close()
    }
  })
})
