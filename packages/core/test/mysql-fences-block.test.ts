/**
 * MariaDB's fenced writes as one statement (`BEGIN NOT ATOMIC … END`, see mysql-fenced-block.ts): one round
 * trip per fenced create or fenced insert, counted by the server (`Questions` counts the statements a client
 * sent, not those a compound statement runs), against the transaction path's, which the store takes when told
 * the server has no RETURNING (MariaDB 10.4; MySQL 8's path); an error inside the block reaches the caller as
 * the statement's own error and leaves no transaction open on the pooled connection; LOCK_LOST writes
 * nothing; and many callers of one key, and of many keys, race to exact counts.
 */
import { LockLostError } from '@getorcreate/core'
import { type DrizzleStore, mysqlFencesSql, mysqlFencesTable } from '@getorcreate/core/drizzle'
import { shuffle } from '@getorcreate/test-support'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'

const itemsTable = (name: string) =>
  mysqlTable(name, {
    id: int('id').autoincrement().primaryKey(),
    slug: varchar('slug', { length: 64 }).notNull(),
    email: varchar('email', { length: 64 }),
  })

describe('MariaDB fenced writes in one statement', () => {
  let h: MysqlHarness // one pooled connection: every statement of the store runs on it
  let fencesName: string
  beforeAll(async () => {
    h = openMysql(1)
    fencesName = h.table('fences')
    await h.exec(mysqlFencesSql(fencesName))
  })
  afterAll(() => h.close())

  async function fixture(version?: string) {
    const name = h.table()
    // No unique index on slug: only the fence keeps a second row out. A unique email, for a conflict.
    await h.exec(
      `create table ${name} (id int auto_increment primary key, slug varchar(64) not null, email varchar(64),
        key (slug), unique key email_unique (email))`,
    )
    const table = itemsTable(name)
    const store = createMySqlStore(h.db, table, {
      version,
      fences: mysqlFencesTable(fencesName),
    }) as unknown as DrizzleStore<typeof table>
    const count = async (slug: string) =>
      Number((await h.rows(`select count(*) as n from ${name} where slug = ?`, [slug]))[0]?.n)
    const fence = async (lockKey: string) =>
      (await h.rows(`select token from ${fencesName} where lock_key = ?`, [lockKey]))[0]?.token
    // Reads the catalog, not counted below.
    await store.insertIfAbsentFenced!(
      { slug: 'warm' },
      { slug: 'warm' },
      { token: 1, lockKey: `warm-${name}` },
    )
    return { name, store, count, fence, lockKey: `lock-${name}` }
  }

  /** Statements the store's one connection sent while `run` ran (the `show status` reads excluded). */
  async function statementsOf(run: () => Promise<unknown>): Promise<number> {
    const questions = async () => {
      const [rows] = await h.pool.query(`show session status like 'Questions'`)
      return Number((rows as { Value: string }[])[0]?.Value)
    }
    const before = await questions()
    await run().catch(() => undefined)
    return (await questions()) - before - 1
  }

  /** The driver's error under drizzle's `DrizzleQueryError` (as the transaction path's errors also come). */
  const driverError = (error: unknown): unknown =>
    error instanceof Error && error.cause !== undefined && !('errno' in error)
      ? driverError(error.cause)
      : error

  /** The pooled connection's `@@in_transaction`: 1 if a failed write left its transaction open. */
  async function inTransaction(): Promise<number> {
    const [rows] = await h.pool.query('select @@in_transaction as open')
    return Number((rows as { open: unknown }[])[0]?.open)
  }

  test('one statement per fenced create (created, found, lost) and per fenced insert; the transaction path sends 7', async () => {
    const { store, count, lockKey } = await fixture()
    const create = (slug: string, token: number) =>
      store.insertIfAbsentFenced!({ slug }, { slug }, { token, lockKey })
    expect(await statementsOf(() => create('a', 2))).toBe(1)
    expect(await statementsOf(() => create('a', 3))).toBe(1) // found
    expect(await statementsOf(() => create('b', 1))).toBe(1) // lost
    expect(
      await statementsOf(() => store.insert({ slug: 'c' }, { fence: 3, lockKey, key: { slug: 'c' } })),
    ).toBe(1)
    expect([await count('a'), await count('b'), await count('c')]).toEqual([1, 0, 1])

    const old = await fixture('10.4.32-MariaDB') // no RETURNING: the transaction path
    const oldCreate = () =>
      old.store.insertIfAbsentFenced!({ slug: 'a' }, { slug: 'a' }, { token: 2, lockKey: old.lockKey })
    // read, set transaction, begin, raise, read, insert, read back, commit
    expect(await statementsOf(oldCreate)).toBeGreaterThanOrEqual(7)
  })

  test('created, found, lost: the row back, undefined, LockLostError with nothing written and the fence kept', async () => {
    const { store, count, fence, lockKey } = await fixture()
    const create = (slug: string, token: number) =>
      store.insertIfAbsentFenced!({ slug }, { slug, email: `${slug}@x` }, { token, lockKey })
    expect(await create('a', 5)).toMatchObject({ slug: 'a', email: 'a@x' })
    // Found before the raise: nothing written, the fence neither raised nor checked.
    expect(await create('a', 6)).toBe(undefined)
    expect(Number(await fence(lockKey))).toBe(5)
    expect(await create('a', 1)).toBe(undefined)
    await expect(create('b', 4)).rejects.toBeInstanceOf(LockLostError)
    await expect(store.insert({ slug: 'b' }, { fence: 4, lockKey })).rejects.toBeInstanceOf(LockLostError)
    expect([await count('a'), await count('b')]).toEqual([1, 0])
    expect(Number(await fence(lockKey))).toBe(5)
    expect(await inTransaction()).toBe(0)
  })

  test('a duplicate on another unique index: the driver error (1062), nothing written, no transaction left open', async () => {
    const { store, count, lockKey } = await fixture()
    await store.insertIfAbsentFenced!({ slug: 'a' }, { slug: 'a', email: 'taken@x' }, { token: 1, lockKey })
    const error = await store.insertIfAbsentFenced!(
      { slug: 'b' },
      { slug: 'b', email: 'taken@x' },
      { token: 2, lockKey },
    ).catch(driverError)
    expect(error).toMatchObject({ errno: 1062, sqlState: '23000' })
    expect(String((error as Error).message)).toMatch(/email_unique/)
    expect(await count('b')).toBe(0)
    expect(await inTransaction()).toBe(0)
    // The same through the unconditional fenced insert.
    expect(
      await store
        .insert({ slug: 'c', email: 'taken@x' }, { fence: 3, lockKey, key: { slug: 'c' } })
        .catch(driverError),
    ).toMatchObject({ errno: 1062 })
    expect(await inTransaction()).toBe(0)
  })

  test('a trigger that SIGNALs: its errno, SQLSTATE and message reach the caller; rolled back, fence not raised', async () => {
    const { name, store, count, fence, lockKey } = await fixture()
    await h.exec(
      `create trigger ${name}_refuse before insert on ${name} for each row
        if new.slug = 'no' then signal sqlstate '45000' set message_text = 'refused by trigger', mysql_errno = 3999;
        end if`,
    )
    await store.insertIfAbsentFenced!({ slug: 'ok' }, { slug: 'ok' }, { token: 1, lockKey })
    for (const write of [
      () => store.insertIfAbsentFenced!({ slug: 'no' }, { slug: 'no' }, { token: 2, lockKey }),
      () => store.insert({ slug: 'no' }, { fence: 2, lockKey, key: { slug: 'no' } }),
    ]) {
      expect(await write().catch(driverError)).toMatchObject({
        errno: 3999,
        sqlState: '45000',
        sqlMessage: 'refused by trigger',
      })
      expect(await inTransaction()).toBe(0)
    }
    expect(await count('no')).toBe(0)
    expect(Number(await fence(lockKey))).toBe(1) // the raise to 2 was rolled back with the insert
  })

  test('interrupted while waiting for the fence row (max_statement_time): error 1969, rolled back, none open', async () => {
    const { name, count, lockKey } = await fixture()
    const other = openMysql(1) // a pool of its own, with a statement time limit
    const holder = await h.pool.getConnection() // holds the fence row
    try {
      const store = createMySqlStore(other.db, itemsTable(name), { fences: mysqlFencesTable(fencesName) })
      await store.insertIfAbsentFenced!({ slug: 'seed' }, { slug: 'seed' }, { token: 1, lockKey })
      await other.pool.query('set session max_statement_time = 0.3')
      await holder.query('begin')
      await holder.query(`update ${fencesName} set token = 2 where lock_key = ?`, [lockKey])
      const error = await store.insertIfAbsentFenced!(
        { slug: 'late' },
        { slug: 'late' },
        { token: 3, lockKey },
      ).catch(driverError)
      expect(error).toMatchObject({ errno: 1969 })
      const [rows] = await other.pool.query('select @@in_transaction as open')
      expect(Number((rows as { open: unknown }[])[0]?.open)).toBe(0)
      await holder.query('rollback')
      expect(await count('late')).toBe(0)
    } finally {
      holder.release()
      await other.close()
    }
  })
})

describe('MariaDB fenced creates in one statement, raced', () => {
  let h: MysqlHarness
  beforeAll(() => {
    h = openMysql(16)
  })
  afterAll(() => h.close())

  test('32 callers per key over 8 keys, tokens growing per key in a shuffled order: one row and one created per key', async () => {
    const fencesName = h.table('fences')
    await h.exec(mysqlFencesSql(fencesName))
    const name = h.table()
    await h.exec(
      `create table ${name} (id int auto_increment primary key, slug varchar(64) not null, email varchar(64), key (slug))`,
    )
    const store = createMySqlStore(h.db, itemsTable(name), { fences: mysqlFencesTable(fencesName) })
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`)
    const calls = shuffle(
      keys.flatMap((slug) => Array.from({ length: 32 }, (_, token) => ({ slug, token: token + 1 }))),
      12,
    )
    const outcomes = await Promise.all(
      calls.map(({ slug, token }) =>
        store.insertIfAbsentFenced!({ slug }, { slug }, { token, lockKey: `lock-${name}-${slug}` }).then(
          (row) => (row ? 'created' : 'found'),
          (error: unknown) => (error instanceof LockLostError ? 'lost' : Promise.reject(error)),
        ),
      ),
    )
    expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(keys.length)
    const rows = await h.rows(`select slug, count(*) as n from ${name} group by slug order by slug`)
    expect(rows.map((row) => [row.slug, Number(row.n)])).toEqual(keys.map((slug) => [slug, 1]))
    // Every pooled connection is out of its transaction.
    const connections = await Promise.all(Array.from({ length: 16 }, () => h.pool.getConnection()))
    try {
      const open = await Promise.all(
        connections.map(async (c) =>
          Number(((await c.query('select @@in_transaction as o'))[0] as { o: unknown }[])[0]?.o),
        ),
      )
      expect(open).toEqual(connections.map(() => 0))
    } finally {
      for (const c of connections) c.release()
    }
  })
})
