import { randomUUID } from 'node:crypto'
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { eq } from 'drizzle-orm'
import { bigint, boolean, datetime, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { mysqlServerInfo } from '../src/drizzle/mysql/mysql-catalog.js'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { createMysqlShape, type MysqlHarness, mysqlShapeTable, openMysql } from './support/mysql.js'

let h: MysqlHarness
const POOL = 32 // the REPEATABLE READ race holds 4 × 8 transactions open at once

beforeAll(() => {
  h = openMysql(POOL)
})
afterAll(async () => {
  await h.close()
})

async function count(table: string, slug?: string): Promise<number> {
  const [row] = await h.rows(
    `select count(*) as n from ${table}${slug === undefined ? '' : ' where slug = ?'}`,
    slug === undefined ? [] : [slug],
  )
  return Number(row?.n)
}

/** Resolves when `parties` callers have arrived. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return () => {
    arrived++
    if (arrived >= parties) open()
    return opened
  }
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('MariaDB store', () => {
  test('the server is MariaDB in REPEATABLE READ by default (what these tests are about)', async () => {
    const [row] = await h.rows('select version() as v, @@tx_isolation as iso')
    expect(String(row?.v)).toMatch(/MariaDB/)
    expect(row?.iso).toBe('REPEATABLE-READ')
  })

  test('server dialects: RETURNING and the shared-lock clause by version', () => {
    expect(mysqlServerInfo('10.11.19-MariaDB-0+deb12u1')).toMatchObject({
      mariadb: true,
      returning: true,
      shareLock: 'lock in share mode',
    })
    expect(mysqlServerInfo('10.4.32-MariaDB')).toMatchObject({
      mariadb: true,
      returning: false,
      shareLock: 'lock in share mode',
    })
    expect(mysqlServerInfo('11.4.2-MariaDB-ubu2404')).toMatchObject({ returning: true })
    expect(mysqlServerInfo('8.0.36')).toMatchObject({
      mariadb: false,
      returning: false,
      shareLock: 'for share',
    })
    expect(mysqlServerInfo('8.4.3')).toMatchObject({ returning: false, shareLock: 'for share' })
    expect(mysqlServerInfo('5.7.44-log')).toMatchObject({ returning: false, shareLock: 'lock in share mode' })
  })

  test('REPEATABLE READ: a row committed after the snapshot is returned with created: false, and the transaction commits', async () => {
    const name = await createMysqlShape(h, 'unique')
    const table = mysqlShapeTable(name, 'unique')
    const result = await h.db.transaction(
      async (tx) => {
        // The snapshot: this transaction has seen that the key is missing.
        expect(await tx.select().from(table).where(eq(table.slug, 'rr'))).toEqual([])
        await h.exec(`insert into ${name} (slug, title) values ('rr', 'from elsewhere')`) // another connection, autocommit
        // Control: a plain read in this transaction still cannot see it.
        expect(await tx.select().from(table).where(eq(table.slug, 'rr'))).toEqual([])
        const got = await getOrCreate(drizzleStore(tx, table), { slug: 'rr' }, { title: 'mine' })
        await tx.insert(table).values({ slug: 'after', title: 'the transaction goes on' })
        return got
      },
      { isolationLevel: 'repeatable read' },
    )
    expect(result.created).toBe(false)
    expect(result.row.title).toBe('from elsewhere')
    expect(await count(name, 'rr')).toBe(1)
    expect(await count(name, 'after')).toBe(1)
    const log = h.queries.join('\n')
    expect(log).toMatch(/savepoint goc_insert/)
    expect(log).toMatch(/rollback to savepoint goc_insert/)
    expect(log).toMatch(/lock in share mode/)
  })

  for (const version of [undefined, '10.4.32-MariaDB']) {
    test(`REPEATABLE READ race: 4 keys × 8 transactions that all read first, no deadlock, exact counts (${version ?? 'this server'})`, async () => {
      const name = await createMysqlShape(h, 'unique')
      const table = mysqlShapeTable(name, 'unique')
      const keys = ['k1', 'k2', 'k3', 'k4']
      const perKey = 8
      const arrive = barrier(keys.length * perKey)
      expect(POOL).toBeGreaterThanOrEqual(keys.length * perKey)
      const outcomes = await Promise.allSettled(
        keys.flatMap((slug) =>
          Array.from({ length: perKey }, (_, caller) =>
            h.db.transaction(
              async (tx) => {
                await tx.select().from(table).where(eq(table.slug, slug)) // every snapshot predates every insert
                await arrive()
                const got = await getOrCreate(
                  createMySqlStore(tx, table, version === undefined ? {} : { version }),
                  { slug },
                  {
                    title: `caller ${caller}`,
                  },
                )
                await new Promise((resolve) => setTimeout(resolve, 30)) // hold the winner's locks while losers wait
                return { slug, ...got }
              },
              { isolationLevel: 'repeatable read' },
            ),
          ),
        ),
      )
      const errors = outcomes.flatMap((outcome) =>
        outcome.status === 'rejected' ? [String(outcome.reason)] : [],
      )
      expect(errors).toEqual([])
      const results = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
      for (const slug of keys) {
        const mine = results.filter((result) => result.slug === slug)
        expect(mine.length).toBe(perKey)
        expect(mine.filter((result) => result.created).length).toBe(1)
        expect(new Set(mine.map((result) => result.row.id)).size).toBe(1)
        expect(await count(name, slug)).toBe(1)
      }
      expect(await count(name)).toBe(keys.length)
    })
  }

  test('a deadlock (the holder of the key rolls back before two waiters insert) is a SerializationConflictError', async () => {
    const name = await createMysqlShape(h, 'unique')
    const table = mysqlShapeTable(name, 'unique')
    const holder = await h.pool.getConnection()
    try {
      await holder.query('begin')
      await holder.query(`insert into ${name} (slug, title) values ('d', 'holder')`)
      const racers = [1, 2].map((caller) =>
        h.db.transaction(async (tx) =>
          getOrCreate(drizzleStore(tx, table), { slug: 'd' }, { title: `racer ${caller}` }),
        ),
      )
      const settled = Promise.allSettled(racers)
      await waitFor(async () => {
        // Both racers' INSERTs are blocked on the holder's uncommitted row.
        const [row] = await h.rows(
          `select count(*) as n from information_schema.PROCESSLIST where INFO like 'insert into \`${name}\`%'`,
        )
        return Number(row?.n) >= 2
      }, 'both racers to wait for the holder')
      await new Promise((resolve) => setTimeout(resolve, 100))
      await holder.query('rollback')
      const outcomes = await settled
      const created = outcomes.filter((outcome) => outcome.status === 'fulfilled' && outcome.value.created)
      const failed = outcomes.flatMap((outcome) =>
        outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
      )
      expect(created.length).toBe(1)
      expect(failed.length).toBe(1)
      const error = failed[0]
      expect(isGetOrCreateError(error) && error.code).toBe('SERIALIZATION_CONFLICT')
      expect(isGetOrCreateError(error) && error.retryable).toBe(true)
      // The cause is mysql2's own error, not drizzle's DrizzleQueryError around it.
      expect(JSON.stringify((error as { cause?: { errno?: number } }).cause?.errno)).toBe('1213')
      expect(await count(name, 'd')).toBe(1)
    } finally {
      holder.release()
    }
  })

  test('only unique indexes on other column sets: MissingUniqueConstraintError, nothing written', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (
      id int auto_increment primary key, prefix varchar(100) null, slug varchar(100) not null,
      email varchar(100) null, title varchar(100) null,
      unique key slug_title (slug, title), unique key email_unique (email), unique key slug_prefix10 (slug(10)))`)
    const store = drizzleStore(h.db, mysqlShapeTable(name, 'unique'))
    const error = await getOrCreate(store, { slug: 'a' }, { title: 'A' }).catch((caught: unknown) => caught)
    expect(isGetOrCreateError(error) && error.code).toBe('MISSING_UNIQUE_CONSTRAINT')
    expect(await store.uniqueness?.(['slug'])).toBe('not-enforced')
    expect(await store.uniqueness?.(['slug', 'title'])).toBe('nulls-distinct')
    expect(await store.uniqueness?.(['email'])).toBe('nulls-distinct')
    expect(await store.uniqueness?.(['id'])).toBe('enforced')
    expect(await count(name)).toBe(0)
  })

  test('a table that does not exist is reported as such, not as a missing unique index', async () => {
    const store = drizzleStore(h.db, mysqlShapeTable(scratchName('missing'), 'unique'))
    const error = await getOrCreate(store, { slug: 'a' }).catch((caught: unknown) => caught)
    expect(isGetOrCreateError(error)).toBe(false)
    expect(String(error)).toMatch(/does not exist/)
  })

  test('inside a transaction, a conflict on another unique index is rethrown and the transaction goes on', async () => {
    const name = await createMysqlShape(h, 'unique')
    const table = mysqlShapeTable(name, 'unique')
    await h.exec(`insert into ${name} (slug, email) values ('a', 'taken@example.com')`)
    await h.db.transaction(async (tx) => {
      await tx.insert(table).values({ slug: 'before' })
      const error = await getOrCreate(
        drizzleStore(tx, table),
        { slug: 'b' },
        { email: 'taken@example.com' },
      ).catch((caught: unknown) => caught)
      expect(isGetOrCreateError(error)).toBe(false)
      expect(JSON.stringify((error as { cause?: { errno?: number } }).cause?.errno)).toBe('1062')
      await tx.insert(table).values({ slug: 'after' })
    })
    expect(await count(name)).toBe(3)
    expect(await count(name, 'b')).toBe(0)
  })

  test('without RETURNING (MySQL, MariaDB < 10.5): the row is read back by insertId', async () => {
    const name = await createMysqlShape(h, 'unique')
    const store = createMySqlStore(h.db, mysqlShapeTable(name, 'unique'), { version: '10.4.32-MariaDB' })
    const before = h.queries.length
    const a = await getOrCreate(store, { slug: 'a' }, { title: 'A' })
    const b = await getOrCreate(store, { slug: 'a' })
    expect(a.created).toBe(true)
    expect(b).toEqual({ row: a.row, created: false })
    expect(a.row).toEqual({ id: a.row.id, prefix: null, slug: 'a', email: null, title: 'A' })
    const log = h.queries.slice(before).join('\n')
    expect(log).not.toMatch(/returning/)
    expect(log).toMatch(/lock in share mode/)
  })

  for (const version of ['10.11.0-MariaDB', '10.4.32-MariaDB']) {
    test(`typed keys (datetime, boolean, bigint, renamed columns) find the row they created, ${version}`, async () => {
      const name = h.table()
      await h.exec(`create table ${name} (id int auto_increment primary key, created_at datetime(3) not null,
        is_on boolean not null, big bigint not null, slug_name varchar(100) not null, token varchar(36) not null,
        unique key natural_key (created_at, is_on, big, slug_name))`)
      const t = mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
        isOn: boolean('is_on').notNull(),
        big: bigint('big', { mode: 'bigint' }).notNull(),
        slugName: varchar('slug_name', { length: 100 }).notNull(),
        token: varchar('token', { length: 36 })
          .notNull()
          .$defaultFn(() => randomUUID()),
      })
      const store = createMySqlStore(h.db, t, { version })
      const at = new Date('2026-11-29T12:34:56.789Z')
      const key = { createdAt: at, isOn: true, big: 1234567890123n, slugName: 'x' }
      const a = await getOrCreate(store, key)
      const b = await getOrCreate(store, {
        slugName: 'x',
        big: 1234567890123n,
        isOn: true,
        createdAt: new Date(at.getTime()),
      })
      const c = await getOrCreate(store, { ...key, isOn: false })
      expect([a.created, b.created, c.created]).toEqual([true, false, true])
      expect(b.row).toEqual(a.row)
      expect(await store.find(key, { fresh: true })).toEqual(a.row)
      expect(a.row.createdAt).toEqual(at)
      expect(a.row.big).toBe(1234567890123n)
      expect(a.row.isOn).toBe(true)
      expect(a.row.token === c.row.token).toBe(false)
      expect(await count(name)).toBe(2)
    })
  }
})
