/** A lock strategy must not run over a store bound to an open transaction: it would create duplicates. */
import { getOrCreate, getOrCreateMany, isGetOrCreateError, LockInTransactionError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { mysqlUrl, scratchName } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { mysqlItemsTable } from './support/mysql.js'
import { itemsFixture } from './support/postgres.js'
import { sqliteItemsTable, sqliteRunFile } from './support/sqlite.js'

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

it('refuses drizzleStore(tx, table) before any I/O, and works with drizzleStore(db, table)', async () => {
  const fixture = await itemsFixture(2)
  const strategy = redisLockStrategy({ clients: await node.client() })
  try {
    const error = await fixture.db
      .transaction(async (tx) => {
        const store = drizzleStore(tx, fixture.table)
        expect(store.inTransaction).toBe(true)
        return getOrCreate(store, { slug: 'a' }, {}, strategy)
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockInTransactionError)
    expect(isGetOrCreateError(error) && error.code).toBe('LOCK_IN_TRANSACTION')
    expect((error as Error).message).toContain('drizzleStore(db, table)')
    expect(await fixture.total()).toBe(0)
    expect(fixture.store.inTransaction).toBe(false)
    expect((await getOrCreate(fixture.store, { slug: 'a' }, {}, strategy)).created).toBe(true)
    expect(await fixture.total()).toBe(1)
  } finally {
    await fixture.drop()
  }
})

it('MariaDB and SQLite: a store bound to a transaction is refused too (getOrCreate and getOrCreateMany), nothing written', async () => {
  const strategy = redisLockStrategy({ clients: await node.client() })
  // MariaDB.
  const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
  const name = scratchName('rl_tx_mysql')
  try {
    await pool.query(
      `create table ${name} (id int auto_increment primary key, slug varchar(100) not null, payload varchar(100))`,
    )
    const db = drizzleMysql(pool)
    const table = mysqlItemsTable(name)
    const errors = await db.transaction(async (tx) => {
      const store = drizzleStore(tx, table)
      expect(store.inTransaction).toBe(true)
      return Promise.all([
        getOrCreate(store, { slug: 'a' }, {}, strategy).catch((e: unknown) => e),
        getOrCreateMany(store, [{ key: { slug: 'b' } }], strategy).catch((e: unknown) => e),
      ])
    })
    for (const error of errors) expect(error).toBeInstanceOf(LockInTransactionError)
    const [rows] = (await pool.query(`select count(*) as n from ${name}`)) as unknown as [{ n: number }[]]
    expect(Number(rows[0]?.n)).toBe(0)
  } finally {
    await pool.query(`drop table if exists ${name}`)
    await pool.end()
  }
  // SQLite.
  const file = sqliteRunFile(5_000)
  const client = file.open()
  try {
    client.exec(
      'create table items (id integer primary key, slug text not null, payload text, fence integer)',
    )
    const db = drizzleSqlite({ client })
    const table = sqliteItemsTable('items')
    // better-sqlite3's transactions are synchronous: the calls are made inside, and settle after.
    const calls: Promise<unknown>[] = []
    db.transaction((tx) => {
      const store = drizzleStore(tx, table)
      expect(store.inTransaction).toBe(true)
      calls.push(
        getOrCreate(store, { slug: 'a' }, {}, strategy).catch((e: unknown) => e),
        getOrCreateMany(store, [{ key: { slug: 'b' } }], strategy).catch((e: unknown) => e),
      )
    })
    const errors = await Promise.all(calls)
    for (const error of errors) expect(error).toBeInstanceOf(LockInTransactionError)
    expect(client.prepare('select count(*) as n from items').get()).toEqual({ n: 0 })
  } finally {
    client.close()
    file.remove()
  }
})
