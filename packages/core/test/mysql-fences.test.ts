/**
 * Fenced writes on MariaDB (`drizzleStore(db, mysqlTable, { fences })`), through RETURNING (MariaDB) and
 * through MySQL 8's read back, what is MySQL's own (what every fenced store must do is the conformance
 * suite's "fenced" group, run by conformance-mariadb*.test.ts): lock keys the ASCII column keeps exactly;
 * the read of the key runs after the raise's wait for the fence row, so it sees every row an earlier holder
 * committed (the two-session cases of ./support/fence-waits.ts); a caller's transaction, deadlocks and key-rewriting triggers; `mysqlFencesSql` creates the table
 * `mysqlFencesTable` maps; `pruneFences` deletes old rows only; and the options are checked.
 */
import { KeyRewrittenError, SerializationConflictError } from '@getorcreate/core'
import {
  type AnyMySqlDatabase,
  type DrizzleStore,
  drizzleStore,
  mysqlFencesSql,
  mysqlFencesTable,
  pgFencesTable,
  pruneFences,
} from '@getorcreate/core/drizzle'
import { mysqlUrl } from '@getorcreate/test-support'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { checkPruneFences } from './support/fence-prune.js'
import { registerFenceWaitCases } from './support/fence-waits.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'

const itemsTable = (name: string) =>
  mysqlTable(name, {
    id: int('id').autoincrement().primaryKey(),
    slug: varchar('slug', { length: 64 }).notNull(),
    n: int('n'),
  })

/** `MariaDB`: RETURNING; `no RETURNING`: the store told the server is MariaDB 10.4 (a read back, as on MySQL 8). */
const SERVERS = [
  ['MariaDB', undefined],
  ['no RETURNING (a read back, as on MySQL)', '10.4.32-MariaDB'],
] as const

const pause = () => new Promise((resolve) => setTimeout(resolve, 200))

describe.each(SERVERS)('fenced writes, %s', (_, version) => {
  let h: MysqlHarness
  let fencesName: string
  let fences: ReturnType<typeof mysqlFencesTable>
  beforeAll(async () => {
    h = openMysql(12)
    fencesName = h.table('fences')
    await h.exec(mysqlFencesSql(fencesName))
    fences = mysqlFencesTable(fencesName)
  })
  afterAll(() => h.close())

  async function fixture(db = h.db) {
    const name = h.table()
    // No unique index on slug: only the fence keeps a second row out (a unique index would refuse it anyway).
    await h.exec(
      `create table ${name} (id int auto_increment primary key, slug varchar(64) not null, n int, key (slug))`,
    )
    const table = itemsTable(name)
    const store =
      version === undefined
        ? drizzleStore(db, table, { fences })
        : (createMySqlStore(db, table, { version, fences }) as unknown as DrizzleStore<typeof table>)
    const count = async (slug: string) =>
      Number((await h.rows(`select count(*) as n from ${name} where slug = ?`, [slug]))[0]?.n)
    const fence = async (lockKey: string) =>
      (await h.rows(`select token from ${fencesName} where lock_key = ?`, [lockKey]))[0]?.token
    return { name, table, store, count, fence }
  }

  /** A second session, outside the store's pool: the holder of a fence row. */
  async function session() {
    const connection = await mysql.createConnection({ uri: mysqlUrl() })
    return {
      exec: async (text: string) => void (await connection.query(text)),
      release: () => connection.end(),
    }
  }

  test('lock keys the ASCII varchar(255) column cannot keep exactly are TypeErrors', async () => {
    const { store, count } = await fixture()
    for (const fence of [
      { token: 1, lockKey: 'clé' },
      { token: 1, lockKey: 'k ' },
      { token: 1, lockKey: 'k\n' },
      { token: 1, lockKey: 'k'.repeat(256) },
    ]) {
      await expect(store.insertIfAbsentFenced!({ slug: 'z' }, { slug: 'z' }, fence)).rejects.toBeInstanceOf(
        TypeError,
      )
    }
    await expect(store.insert({ slug: 'z' }, { fence: 1, lockKey: 'clé' })).rejects.toBeInstanceOf(TypeError)
    expect(await count('z')).toBe(0)
    // The longest accepted key: a 189-character prefix, as the docs promise.
    const longest = `${'p'.repeat(189)}{${'0'.repeat(64)}}`
    expect(longest).toHaveLength(255)
    expect(
      await store.insertIfAbsentFenced!({ slug: 'l' }, { slug: 'l' }, { token: 1, lockKey: longest }),
    ).toMatchObject({ slug: 'l' })
  })

  test('pruneFences deletes the rows no write raised for olderThanMs, and only those', async () => {
    await checkPruneFences({
      fencesName,
      store: (await fixture()).store,
      insertOld: (old) =>
        h.exec(
          `insert into ${fencesName} (lock_key, token, updated_at) values (?, 1, utc_timestamp(6) - interval 1 hour)`,
          [old],
        ),
      present: async (keys) =>
        (await h.rows(`select lock_key from ${fencesName} where lock_key in (?)`, [keys])).map(
          (row) => row.lock_key,
        ),
      prune: (olderThanMs) => pruneFences(h.db, fences, { olderThanMs }),
    })
  })

  registerFenceWaitCases(() => ({ fencesName, fixture, session }))

  test("inside the caller's transaction: written in it; a fence moved after its snapshot is a SerializationConflictError", async () => {
    const { name, table, count } = await fixture()
    const lockKey = `lock-${fencesName}-tx`
    const inTx = (db: AnyMySqlDatabase) =>
      version === undefined
        ? drizzleStore(db, table, { fences })
        : (createMySqlStore(db, table, { version, fences }) as unknown as DrizzleStore<typeof table>)
    await h.db.transaction(async (tx) => {
      const row = await inTx(tx).insertIfAbsentFenced!({ slug: 't' }, { slug: 't' }, { token: 1, lockKey })
      expect(row).toMatchObject({ slug: 't' })
    })
    expect(await count('t')).toBe(1)
    const holder = await session()
    try {
      await expect(
        h.db.transaction(async (tx) => {
          await tx.execute(`select count(*) from ${name}`) // REPEATABLE READ: the snapshot is taken here
          await holder.exec(`update ${fencesName} set token = 2 where lock_key = '${lockKey}'`)
          await holder.exec(`insert into ${name} (slug) values ('t2')`)
          await inTx(tx).insertIfAbsentFenced!({ slug: 't2' }, { slug: 't2' }, { token: 3, lockKey })
        }),
      ).rejects.toBeInstanceOf(SerializationConflictError)
      expect(await count('t2')).toBe(1) // the holder's row only
    } finally {
      await holder.release()
    }
  })
})

describe('fenced writes that deadlock, on MariaDB', () => {
  test('two transactions raising two fences in opposite orders: one gets SerializationConflictError (1213), rolled back', async () => {
    const h = openMysql(4)
    try {
      const fencesName = h.table('fences')
      await h.exec(mysqlFencesSql(fencesName))
      const name = h.table()
      await h.exec(
        `create table ${name} (id int auto_increment primary key, slug varchar(64) not null, n int, key (slug))`,
      )
      const table = itemsTable(name)
      const fences = mysqlFencesTable(fencesName)
      const [k1, k2] = [`lock-${name}-1`, `lock-${name}-2`]
      let arrived = 0
      let release: () => void = () => undefined
      const bothHoldOne = new Promise<void>((resolve) => {
        release = resolve
      })
      const writer = (first: string, second: string, slug: string) =>
        h.db.transaction(async (tx) => {
          const store = drizzleStore(tx, table, { fences })
          await store.insertIfAbsentFenced!(
            { slug: `${slug}1` },
            { slug: `${slug}1` },
            { token: 1, lockKey: first },
          )
          if (++arrived === 2) release()
          await bothHoldOne
          await store.insertIfAbsentFenced!(
            { slug: `${slug}2` },
            { slug: `${slug}2` },
            { token: 2, lockKey: second },
          )
        })
      const outcomes = await Promise.allSettled([writer(k1, k2, 'a'), writer(k2, k1, 'b')])
      const failed = outcomes.filter((outcome) => outcome.status === 'rejected')
      expect(failed).toHaveLength(1)
      expect((failed[0] as PromiseRejectedResult).reason).toBeInstanceOf(SerializationConflictError)
      expect(Number((await h.rows(`select count(*) as n from ${name}`))[0]?.n)).toBe(2) // the winner's rows only
    } finally {
      await h.close()
    }
  })
})

describe('fenced writes and a trigger that rewrites the key, on MariaDB', () => {
  let h: MysqlHarness
  let fencesName: string
  beforeAll(async () => {
    h = openMysql(4)
    fencesName = h.table('fences')
    await h.exec(mysqlFencesSql(fencesName))
  })
  afterAll(() => h.close())

  test.each(SERVERS)('%s: KEY_REWRITTEN, nothing written, the fence not raised', async (_, version) => {
    const name = h.table('kr')
    await h.exec(
      `create table ${name} (id int auto_increment primary key, slug varchar(64) not null, n int, unique key (slug))`,
    )
    await h.exec(
      `create trigger ${name}_before before insert on ${name} for each row set new.slug = concat(new.slug, '-x')`,
    )
    const store = createMySqlStore(h.db, itemsTable(name), { version, fences: mysqlFencesTable(fencesName) })
    const lockKey = `lock-${name}`
    const error = await store.insertIfAbsentFenced!(
      { slug: 'Bob' },
      { slug: 'Bob' },
      { token: 4, lockKey },
    ).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(KeyRewrittenError)
    expect((error as KeyRewrittenError).written).toBe(false)
    expect(await h.rows(`select slug from ${name}`)).toEqual([])
    expect(await h.rows(`select token from ${fencesName} where lock_key = ?`, [lockKey])).toEqual([])
  })
})

describe('mysql2 and ON DUPLICATE KEY UPDATE', () => {
  test('affectedRows is 1 for a new row and 1 for a found, unchanged one (CLIENT_FOUND_ROWS): why the fence is read back', async () => {
    const h = openMysql(1)
    try {
      const name = h.table('f')
      await h.exec(mysqlFencesSql(name))
      const raise = async (token: number) => {
        const [header] = await h.pool.query(
          `insert into ${name} (lock_key, token, updated_at) values ('k', ?, utc_timestamp(6))
           on duplicate key update token = if(token <= ?, ?, token)`,
          [token, token, token],
        )
        return (header as { affectedRows: number }).affectedRows
      }
      expect(await raise(5)).toBe(1) // inserted
      expect(await raise(3)).toBe(1) // found, not raised: the same count
      expect(await raise(8)).toBe(2) // raised
    } finally {
      await h.close()
    }
  })
})

describe('InnoDB snapshots after a locking raise (what the fenced create relies on, and what it avoids)', () => {
  /**
   * Session B raises a fence row session A holds (A has also inserted a row), then reads the row's table
   * with a consistent read once A has committed: does B see A's row? `start` is how B opens its transaction.
   */
  async function seesHolderRow(start: string): Promise<boolean> {
    const h = openMysql(1)
    const [a, b] = await Promise.all([
      mysql.createConnection({ uri: mysqlUrl() }),
      mysql.createConnection({ uri: mysqlUrl() }),
    ])
    try {
      const fencesName = h.table('fences')
      const name = h.table()
      await h.exec(mysqlFencesSql(fencesName))
      await h.exec(`create table ${name} (id int auto_increment primary key, slug varchar(64) not null)`)
      await h.exec(
        `insert into ${fencesName} (lock_key, token, updated_at) values ('k', 1, utc_timestamp(6))`,
      )
      for (const statement of start.split(';')) await b.query(statement)
      await a.query('begin')
      await a.query(`update ${fencesName} set token = 2 where lock_key = 'k'`)
      await a.query(`insert into ${name} (slug) values ('w')`)
      const raise = b.query(
        `insert into ${fencesName} (lock_key, token, updated_at) values ('k', 3, utc_timestamp(6))
         on duplicate key update token = if(token <= 3, 3, token)`,
      )
      await pause() // B waits for the fence row
      await a.query('commit')
      await raise
      const [rows] = await b.query(`select count(*) as n from ${name} where slug = 'w'`)
      await b.query('commit')
      return Number((rows as { n: unknown }[])[0]?.n) === 1
    } finally {
      await Promise.all([a.end(), b.end()])
      await h.close()
    }
  }

  test('READ COMMITTED (the fenced create): the read after the raise sees the holder’s row', async () => {
    expect(await seesHolderRow('set transaction isolation level read committed;begin')).toBe(true)
  })
  test('REPEATABLE READ, snapshot at the first read: taken after the wait, so it sees it too', async () => {
    expect(await seesHolderRow('set transaction isolation level repeatable read;begin')).toBe(true)
  })
  test('REPEATABLE READ with a snapshot at BEGIN (as in a caller’s transaction that read first): it does not', async () => {
    expect(
      await seesHolderRow(
        'set transaction isolation level repeatable read;start transaction with consistent snapshot',
      ),
    ).toBe(false)
  })
})

describe('drizzleStore options on MySQL tables', () => {
  const table = itemsTable('never_created')
  test.each([
    ['fences of another dialect', { fences: pgFencesTable() }, /mysql-core table/],
    [
      'a table without the fence columns',
      { fences: mysqlTable('f', { id: int('id') }) },
      /no column lockKey/,
    ],
    ['an unknown option', { fence: mysqlFencesTable() }, /unknown option "fence"/],
  ])('%s: a TypeError before any I/O', (_, options, message) => {
    expect(() => drizzleStore({} as never, table, options as never)).toThrow(message)
  })
  test('pruneFences refuses a table that is not a fences table', async () => {
    await expect(
      pruneFences({} as never, mysqlTable('f', { id: int('id') }) as never, { olderThanMs: 1 }),
    ).rejects.toThrow(/no column lockKey/)
  })
})
