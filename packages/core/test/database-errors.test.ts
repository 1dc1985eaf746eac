/**
 * What a caller gets from a database error (issue 17, item 6), per driver, real databases, no mocks:
 *
 * - an error that is not about the key (a unique violation on another column, a refused connection) is the
 *   driver's error as drizzle-orm throws it: on postgres.js, node-postgres, PGlite and mysql2 a
 *   `DrizzleQueryError` (`Failed query: …`, `query`, `params`) whose `cause` is the driver's own error, every
 *   field set; on better-sqlite3, which drizzle does not wrap, the driver's `SqliteError` itself. Whatever
 *   path sent the statement: `getOrCreate`'s insert, `getOrCreateMany`'s batch, `updateOrCreate`'s update,
 *   the advisory lock's transaction, a caller's transaction;
 * - except in a transaction the library opens itself (the advisory lock's; a fenced write's), where an error
 *   of the transaction itself is as drizzle's `transaction()` throws it: here a deferred constraint failing at
 *   `COMMIT`, which postgres.js and PGlite report from their own transaction API, unwrapped, and node-postgres
 *   from drizzle's `COMMIT` query, wrapped;
 * - a `GetOrCreateError` raised from a database error (`SERIALIZATION_CONFLICT`, `LOCK_UNAVAILABLE`,
 *   `KEY_REWRITTEN`) has the driver's own error as `cause`, never drizzle's wrapper, so that
 *   `error.cause.code` (`errno` on mysql2) is the database's code.
 */
import { messages as pgliteMessages } from '@electric-sql/pglite'
import {
  advisoryLockIdFor,
  advisoryLockStrategy,
  constraintStrategy,
  getOrCreate,
  getOrCreateMany,
  isGetOrCreateError,
  KeyRewrittenError,
  LockUnavailableError,
  SerializationConflictError,
  updateOrCreate,
} from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { DrizzleQueryError, sql } from 'drizzle-orm'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { pgTable, text as pgText, serial } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import mysql from 'mysql2/promise'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createMysqlShape, type MysqlHarness, mysqlShapeTable, openMysql } from './support/mysql.js'
import { openPg, PG_DRIVERS, type PgDriver, type PgHarness, untilLockWait } from './support/pg.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'
import { itemsDdl, itemsTable } from './support/tables.js'

// One caller per call: no single flight between the calls a test makes on purpose.
const strategy = constraintStrategy({ singleFlight: false })

/** The error `promise` rejects with; a promise that resolves fails the test. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** The class each Postgres driver throws for a server error. */
const PG_DRIVER_ERROR: Record<PgDriver, new (...args: never[]) => Error> = {
  'postgres.js': postgres.PostgresError as unknown as new (...args: never[]) => Error,
  'node-postgres': pg.DatabaseError,
  pglite: pgliteMessages.DatabaseError,
}

/** The name of the violated constraint, in the field each Postgres driver puts it. */
function constraintOf(driver: PgDriver, error: unknown): unknown {
  const fields = error as { constraint?: unknown; constraint_name?: unknown }
  return driver === 'postgres.js' ? fields.constraint_name : fields.constraint
}

/**
 * `error` is drizzle's `DrizzleQueryError` for the statement `verb` with `param` among its parameters, around
 * the driver's error: that driver error is returned for its own fields.
 */
function wrappedByDrizzle(error: unknown, verb: RegExp, param: string): Record<string, unknown> {
  expect(isGetOrCreateError(error)).toBe(false)
  expect(error).toBeInstanceOf(DrizzleQueryError)
  const wrapper = error as DrizzleQueryError
  expect(wrapper.message.startsWith('Failed query: ')).toBe(true)
  expect(wrapper.query).toMatch(verb)
  // A batch on Postgres sends its values as one array literal per column: the parameter may be inside one.
  expect(wrapper.params.map(String).some((sent) => sent.includes(param))).toBe(true)
  expect(wrapper.cause).toBeInstanceOf(Error)
  expect(wrapper.cause).not.toBeInstanceOf(DrizzleQueryError)
  return wrapper.cause as unknown as Record<string, unknown>
}

describe.each(PG_DRIVERS)('Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 8)
  })
  afterAll(async () => {
    await h.close()
  })

  /** An items table (slug, title, email unique) with a unique index on the key `slug`, and a row. */
  async function taken() {
    const name = h.table('dberr')
    await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
    await h.exec(`insert into ${name} (slug, email) values ('first', 'taken@example.com')`)
    const table = itemsTable(name)
    return { name, table, store: drizzleStore(h.db, table) }
  }
  const count = async (name: string) => Number((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n)

  /** The driver's error for the unique violation on `${name}_email_key`: its class, code and constraint. */
  function emailTaken(cause: Record<string, unknown>, name: string) {
    expect(cause).toBeInstanceOf(PG_DRIVER_ERROR[driver])
    expect(cause.code).toBe('23505')
    expect(constraintOf(driver, cause)).toBe(`${name}_email_key`)
  }

  test("getOrCreate: a unique violation on another column is drizzle's DrizzleQueryError around the driver's 23505", async () => {
    const { name, store } = await taken()
    const error = await rejection(
      getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, strategy),
    )
    emailTaken(wrappedByDrizzle(error, /^insert into /, 'taken@example.com'), name)
    expect(await count(name)).toBe(1)
  })

  test('getOrCreateMany: the same, from the one statement that reads and inserts (defaults objects)', async () => {
    const { name, store } = await taken()
    const error = await rejection(
      getOrCreateMany(
        store,
        [
          { key: { slug: 'a' }, defaults: { email: 'a@example.com' } },
          { key: { slug: 'b' }, defaults: { email: 'taken@example.com' } },
        ],
        strategy,
      ),
    )
    emailTaken(wrappedByDrizzle(error, /^with goc_rows as \(/, 'taken@example.com'), name)
    expect(await count(name)).toBe(1)
  })

  test('getOrCreateMany: the same, from the batch insert (defaults functions giving different columns, which the one statement declines)', async () => {
    const { name, store } = await taken()
    const error = await rejection(
      getOrCreateMany(
        store,
        [
          { key: { slug: 'a' }, defaults: () => ({ email: 'a@example.com', title: 'A' }) },
          { key: { slug: 'b' }, defaults: () => ({ email: 'taken@example.com' }) },
        ],
        strategy,
      ),
    )
    emailTaken(wrappedByDrizzle(error, /^insert into /, 'taken@example.com'), name)
    expect(await count(name)).toBe(1)
  })

  test('updateOrCreate: the same, from the update', async () => {
    const { name, store } = await taken()
    await h.exec(`insert into ${name} (slug, email) values ('second', 'second@example.com')`)
    const error = await rejection(
      updateOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, { strategy }),
    )
    emailTaken(wrappedByDrizzle(error, /^update /, 'taken@example.com'), name)
  })

  test("inside the caller's transaction: the same, and the caller sees it before rolling back", async () => {
    const { name, table } = await taken()
    const error = await rejection(
      h.db.transaction(async (tx) =>
        getOrCreate(
          drizzleStore(tx as unknown as AnyPgDatabase, table),
          { slug: 'second' },
          { email: 'taken@example.com' },
          strategy,
        ),
      ),
    )
    emailTaken(wrappedByDrizzle(error, /^insert into /, 'taken@example.com'), name)
    expect(await count(name)).toBe(1)
  })

  test("advisoryLockStrategy, in its own transaction: a statement's error is the same DrizzleQueryError", async () => {
    const { name, store } = await taken()
    const error = await rejection(
      getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, advisoryLockStrategy()),
    )
    emailTaken(wrappedByDrizzle(error, /insert into /, 'taken@example.com'), name)
    expect(await count(name)).toBe(1)
  })

  test(`advisoryLockStrategy, in its own transaction: a deferred constraint failing at COMMIT is ${
    driver === 'node-postgres' ? "drizzle's DrizzleQueryError of the COMMIT" : "the driver's error, unwrapped"
  }`, async () => {
    const name = h.table('dberr')
    await h.exec(
      `create table ${name} (id serial primary key, slug text, tenant integer, title text, email text,
         created_at timestamptz default now(),
         constraint ${name}_email_key unique (email) deferrable initially deferred);
       insert into ${name} (slug, email) values ('first', 'taken@example.com')`,
    )
    const store = drizzleStore(h.db, itemsTable(name))
    const error = await rejection(
      getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, advisoryLockStrategy()),
    )
    expect(isGetOrCreateError(error)).toBe(false)
    if (driver === 'node-postgres') {
      expect(error).toBeInstanceOf(DrizzleQueryError)
      expect((error as DrizzleQueryError).query).toBe('commit')
      emailTaken((error as DrizzleQueryError).cause as unknown as Record<string, unknown>, name)
    } else {
      expect(error).not.toBeInstanceOf(DrizzleQueryError)
      emailTaken(error as Record<string, unknown>, name)
    }
    expect(await count(name)).toBe(1)
  })

  test("KEY_REWRITTEN: cause is the driver's error (22P02), not drizzle's wrapper", async () => {
    const name = h.table('dberr')
    const fn = scratchName('dberr_fn')
    await h.exec(
      `create table ${name} (id serial primary key, slug text, title text);
       create unique index on ${name} (slug);
       create function ${fn}() returns trigger language plpgsql as $$ begin new.slug := lower(new.slug); return new; end $$;
       create trigger ${name}_before before insert on ${name} for each row execute function ${fn}()`,
    )
    try {
      const table = pgTable(name, {
        id: serial('id').primaryKey(),
        slug: pgText('slug'),
        title: pgText('title'),
      })
      const error = await rejection(getOrCreate(drizzleStore(h.db, table), { slug: 'Bob' }, {}, strategy))
      expect(error).toBeInstanceOf(KeyRewrittenError)
      const cause = (error as Error).cause
      expect(cause).not.toBeInstanceOf(DrizzleQueryError)
      expect(cause).toBeInstanceOf(PG_DRIVER_ERROR[driver])
      expect((cause as { code?: unknown }).code).toBe('22P02')
    } finally {
      await h.exec(`drop function if exists ${fn}() cascade`)
    }
  })

  // PGlite is one session: no second transaction can commit or hold a lock while the first one runs, so these
  // are not reachable there.
  if (driver !== 'pglite') {
    test("SERIALIZATION_CONFLICT (REPEATABLE READ, SERIALIZABLE): cause is the driver's error, code 40001", async () => {
      for (const isolationLevel of ['repeatable read', 'serializable'] as const) {
        const { name, table, store } = await taken()
        const error = await rejection(
          h.db.transaction(
            async (tx) => {
              await tx.execute(sql.raw(`select count(*) from ${name}`)) // the snapshot: 'late' is missing
              expect((await getOrCreate(store, { slug: 'late' }, {}, strategy)).created).toBe(true)
              return getOrCreate(
                drizzleStore(tx as unknown as AnyPgDatabase, table),
                { slug: 'late' },
                {},
                strategy,
              )
            },
            { isolationLevel },
          ),
        )
        expect(error, isolationLevel).toBeInstanceOf(SerializationConflictError)
        const cause = (error as Error).cause
        expect(cause, isolationLevel).not.toBeInstanceOf(DrizzleQueryError)
        expect(cause, isolationLevel).toBeInstanceOf(PG_DRIVER_ERROR[driver])
        expect((cause as { code?: unknown }).code, isolationLevel).toBe('40001')
      }
    })

    test("SERIALIZATION_CONFLICT from getOrCreateMany's batch insert: the same cause", async () => {
      const { name, table, store } = await taken()
      const error = await rejection(
        h.db.transaction(
          async (tx) => {
            await tx.execute(sql.raw(`select count(*) from ${name}`))
            expect((await getOrCreate(store, { slug: 'late' }, {}, strategy)).created).toBe(true)
            return getOrCreateMany(
              drizzleStore(tx as unknown as AnyPgDatabase, table),
              [{ key: { slug: 'early' } }, { key: { slug: 'late' } }],
              strategy,
            )
          },
          { isolationLevel: 'repeatable read' },
        ),
      )
      expect(error).toBeInstanceOf(SerializationConflictError)
      const cause = (error as Error).cause
      expect(cause).not.toBeInstanceOf(DrizzleQueryError)
      expect(cause).toBeInstanceOf(PG_DRIVER_ERROR[driver])
      expect((cause as { code?: unknown }).code).toBe('40001')
    })

    test("SERIALIZATION_CONFLICT from updateOrCreate's update: the same cause", async () => {
      const { name, table } = await taken()
      const error = await rejection(
        h.db.transaction(
          async (tx) => {
            await tx.execute(sql.raw(`select count(*) from ${name}`))
            await h.exec(`update ${name} set title = 'other' where slug = 'first'`)
            return updateOrCreate(
              drizzleStore(tx as unknown as AnyPgDatabase, table),
              { slug: 'first' },
              { title: 'mine' },
              { strategy },
            )
          },
          { isolationLevel: 'repeatable read' },
        ),
      )
      expect(error).toBeInstanceOf(SerializationConflictError)
      const cause = (error as Error).cause
      expect(cause).not.toBeInstanceOf(DrizzleQueryError)
      expect(cause).toBeInstanceOf(PG_DRIVER_ERROR[driver])
      expect((cause as { code?: unknown }).code).toBe('40001')
    })

    /**
     * A deadlock between the caller's transaction and another session's: the other session holds key `b`
     * (`holderFirst`), the caller's transaction takes key `a` then blocks on `b` (`second`); once it waits,
     * the other session takes `a` and blocks on it. The caller's backend waited first, so its
     * `deadlock_timeout` (1 s by default) runs out first, and Postgres aborts its statement with 40P01.
     */
    async function deadlocked(
      name: string,
      holderFirst: string,
      holderSecond: string,
      first: (tx: AnyPgDatabase) => Promise<unknown>,
      second: (tx: AnyPgDatabase) => Promise<unknown>,
    ): Promise<unknown> {
      const holder = await h.session!()
      try {
        await holder.exec(`begin; ${holderFirst}`)
        let holderDone: Promise<void> | undefined
        const error = await rejection(
          h.db.transaction(async (tx) => {
            await first(tx as unknown as AnyPgDatabase)
            const waiting = second(tx as unknown as AnyPgDatabase)
            // Once the caller's statement waits for the holder's row, the holder waits for the caller's.
            await untilLockWait(h, `%${name}%`, 200, 'the caller never waited for the holder')
            holderDone = holder.exec(holderSecond)
            return waiting
          }),
        )
        // The caller's transaction is rolled back: the holder's statement goes on, and commits.
        await holderDone
        await holder.exec('commit')
        return error
      } finally {
        await holder.exec('rollback').catch(() => undefined)
        await holder.release()
      }
    }

    /** `error` is SERIALIZATION_CONFLICT for a deadlock, the driver's 40P01 as cause. */
    function deadlockConflict(error: unknown) {
      expect(error).toBeInstanceOf(SerializationConflictError)
      expect((error as SerializationConflictError).retryable).toBe(true)
      expect((error as Error).message).toMatch(/deadlock \(Postgres 40P01\)/)
      const cause = (error as Error).cause
      expect(cause).not.toBeInstanceOf(DrizzleQueryError)
      expect(cause).toBeInstanceOf(PG_DRIVER_ERROR[driver])
      expect((cause as { code?: unknown }).code).toBe('40P01')
    }

    test("a deadlock of getOrCreate's insert in the caller's transaction: SERIALIZATION_CONFLICT, cause 40P01", async () => {
      const { name, table } = await taken()
      const keyed = (tx: AnyPgDatabase, slug: string) =>
        getOrCreate(drizzleStore(tx, table), { slug }, {}, strategy)
      const error = await deadlocked(
        name,
        `insert into ${name} (slug) values ('b')`,
        `insert into ${name} (slug) values ('a')`,
        async (tx) => expect((await keyed(tx, 'a')).created).toBe(true),
        (tx) => keyed(tx, 'b'),
      )
      deadlockConflict(error)
      // The caller's rows rolled back; the holder's committed: one row per key.
      expect(await h.rows(`select slug from ${name} order by slug`)).toEqual([
        { slug: 'a' },
        { slug: 'b' },
        { slug: 'first' },
      ])
    })

    test("a deadlock of updateOrCreate's update in the caller's transaction: SERIALIZATION_CONFLICT, cause 40P01", async () => {
      const { name, table } = await taken()
      await h.exec(`insert into ${name} (slug, title) values ('a', 'old'), ('b', 'old')`)
      const update = (tx: AnyPgDatabase, slug: string) =>
        updateOrCreate(drizzleStore(tx, table), { slug }, { title: 'mine' }, { strategy })
      const error = await deadlocked(
        name,
        `update ${name} set title = 'holder' where slug = 'b'`,
        `update ${name} set title = 'holder' where slug = 'a'`,
        async (tx) => expect((await update(tx, 'a')).created).toBe(false),
        (tx) => update(tx, 'b'),
      )
      deadlockConflict(error)
      expect(await h.rows(`select slug, title from ${name} where slug in ('a', 'b') order by slug`)).toEqual([
        { slug: 'a', title: 'holder' },
        { slug: 'b', title: 'holder' },
      ])
    })

    test("LOCK_UNAVAILABLE (advisory lock past lock_timeout): cause is the driver's error, code 55P03", async () => {
      const { store } = await taken()
      const identity = await store.lockIdentity!({ slug: 'busy' })
      const id = advisoryLockIdFor(identity.table, identity.key as Record<string, unknown>)
      const holder = await h.session!()
      try {
        await holder.exec(`begin; select pg_advisory_xact_lock(${id})`)
        const error = await rejection(
          getOrCreate(store, { slug: 'busy' }, {}, advisoryLockStrategy({ lockTimeoutMs: 100 })),
        )
        expect(error).toBeInstanceOf(LockUnavailableError)
        const cause = (error as Error).cause
        expect(cause).not.toBeInstanceOf(DrizzleQueryError)
        expect(cause).toBeInstanceOf(PG_DRIVER_ERROR[driver])
        expect((cause as { code?: unknown }).code).toBe('55P03')
      } finally {
        await holder.exec('rollback').catch(() => undefined)
        await holder.release()
      }
    })

    test("a connection refused: drizzle's DrizzleQueryError around the driver's error", async () => {
      const name = scratchName('dberr') // never created: nothing reaches a server
      const db =
        driver === 'postgres.js'
          ? drizzlePostgresJs(postgres('postgres://root@127.0.0.1:1/test', { max: 1, onnotice: () => {} }))
          : drizzleNodePg(new pg.Pool({ connectionString: 'postgres://root@127.0.0.1:1/test', max: 1 }))
      try {
        const error = await rejection(
          getOrCreate(drizzleStore(db, itemsTable(name)), { slug: 'a' }, {}, strategy),
        )
        expect(isGetOrCreateError(error)).toBe(false)
        expect(error).toBeInstanceOf(DrizzleQueryError)
        expect((error as DrizzleQueryError).message.startsWith('Failed query: ')).toBe(true)
        expect(((error as DrizzleQueryError).cause as { code?: unknown } | undefined)?.code).toBe(
          'ECONNREFUSED',
        )
      } finally {
        const client = (db as unknown as { $client: { end(): Promise<void> } }).$client
        await client.end()
      }
    })
  }
})

describe('MariaDB via mysql2', () => {
  let h: MysqlHarness
  beforeAll(() => {
    h = openMysql(8)
  })
  afterAll(async () => {
    await h.close()
  })

  /** A table whose `slug` (the key) and `email` are unique, with a row that holds the email. */
  async function taken() {
    const name = await createMysqlShape(h, 'unique')
    await h.exec(`insert into ${name} (slug, email) values ('first', 'taken@example.com')`)
    const table = mysqlShapeTable(name, 'unique')
    return { name, table, store: drizzleStore(h.db, table) }
  }
  const count = async (name: string) => Number((await h.rows(`select count(*) as n from ${name}`))[0]?.n)

  /** mysql2's error for the duplicate on `email_unique`: errno, code, SQLSTATE and the server's message. */
  function emailTaken(cause: Record<string, unknown>) {
    expect(cause.errno).toBe(1062)
    expect(cause.code).toBe('ER_DUP_ENTRY')
    expect(cause.sqlState).toBe('23000')
    expect(String(cause.sqlMessage)).toMatch(/for key '(\w+\.)?email_unique'$/)
  }

  test("getOrCreate: a duplicate on another unique index is drizzle's DrizzleQueryError around mysql2's 1062", async () => {
    const { name, store } = await taken()
    const error = await rejection(
      getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, strategy),
    )
    emailTaken(wrappedByDrizzle(error, /^insert into /, 'taken@example.com'))
    expect(await count(name)).toBe(1)
  })

  test('getOrCreateMany: the same, from the batch insert', async () => {
    const { name, store } = await taken()
    const error = await rejection(
      getOrCreateMany(
        store,
        [
          { key: { slug: 'a' }, defaults: { email: 'a@example.com' } },
          { key: { slug: 'b' }, defaults: { email: 'taken@example.com' } },
        ],
        strategy,
      ),
    )
    emailTaken(wrappedByDrizzle(error, /^insert into /, 'taken@example.com'))
    // Refused as a whole, the batch's keys were then inserted one at a time, in key order (see the README's
    // getOrCreateMany on MySQL / MariaDB): 'a' was created before 'b' failed.
    expect(await count(name)).toBe(2)
  })

  test('updateOrCreate: the same, from the update', async () => {
    const { name, store } = await taken()
    await h.exec(`insert into ${name} (slug, email) values ('second', 'second@example.com')`)
    const error = await rejection(
      updateOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, { strategy }),
    )
    emailTaken(wrappedByDrizzle(error, /^update /, 'taken@example.com'))
  })

  test("inside the caller's transaction (the insert's savepoint): the same, and the transaction goes on", async () => {
    const { name, table } = await taken()
    const error = await h.db.transaction(async (tx) => {
      const failed = await rejection(
        getOrCreate(drizzleStore(tx, table), { slug: 'second' }, { email: 'taken@example.com' }, strategy),
      )
      await tx.insert(table).values({ slug: 'after' })
      return failed
    })
    emailTaken(wrappedByDrizzle(error, /^insert into /, 'taken@example.com'))
    expect(await count(name)).toBe(2)
  })

  test("KEY_REWRITTEN (MariaDB's RETURNING check): cause is mysql2's error (1690), not drizzle's wrapper", async () => {
    const name = await createMysqlShape(h, 'unique')
    await h.exec(
      `create trigger ${name}_before before insert on ${name} for each row set new.slug = concat(new.slug, '-x')`,
    )
    const server = String((await h.rows('select version() as v'))[0]?.v)
    expect(server).toMatch(/MariaDB/) // RETURNING (10.5+): the check runs in the insert's own statement
    const error = await rejection(
      getOrCreate(drizzleStore(h.db, mysqlShapeTable(name, 'unique')), { slug: 'Bob' }),
    )
    expect(error).toBeInstanceOf(KeyRewrittenError)
    const cause = (error as Error).cause
    expect(cause).not.toBeInstanceOf(DrizzleQueryError)
    expect(cause).toBeInstanceOf(Error)
    expect((cause as { errno?: unknown }).errno).toBe(1690)
  })

  test("SERIALIZATION_CONFLICT (a deadlock): cause is mysql2's error, errno 1213", async () => {
    const { name, table } = await taken()
    const holder = await h.pool.getConnection()
    try {
      await holder.query('begin')
      await holder.query(`insert into ${name} (slug, title) values ('d', 'holder')`)
      const settled = Promise.allSettled(
        [1, 2].map((caller) =>
          h.db.transaction(async (tx) =>
            getOrCreate(drizzleStore(tx, table), { slug: 'd' }, { title: `racer ${caller}` }, strategy),
          ),
        ),
      )
      // Both racers' inserts wait on the holder's uncommitted row; its rollback deadlocks them.
      for (const deadline = Date.now() + 10_000; ; ) {
        const [row] = await h.rows(
          `select count(*) as n from information_schema.PROCESSLIST where INFO like 'insert into \`${name}\`%'`,
        )
        if (Number(row?.n) >= 2) break
        if (Date.now() > deadline) throw new Error('the racers never waited on the holder')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
      await holder.query('rollback')
      const failed = (await settled).flatMap((outcome) =>
        outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
      )
      expect(failed).toHaveLength(1)
      expect(failed[0]).toBeInstanceOf(SerializationConflictError)
      const cause = (failed[0] as Error).cause
      expect(cause).not.toBeInstanceOf(DrizzleQueryError)
      expect(cause).toBeInstanceOf(Error)
      expect((cause as { errno?: unknown }).errno).toBe(1213)
      expect((cause as { sqlState?: unknown }).sqlState).toBe('40001')
    } finally {
      holder.release()
    }
  })

  test("a connection refused: drizzle's DrizzleQueryError around mysql2's error", async () => {
    const pool = mysql.createPool({ uri: 'mysql://root@127.0.0.1:1/test', connectionLimit: 1 })
    try {
      const table = mysqlShapeTable(scratchName('dberr'), 'unique') // never created
      const error = await rejection(
        getOrCreate(
          drizzleStore(drizzleMysql(pool, { mode: 'default' }), table),
          { slug: 'a' },
          {},
          strategy,
        ),
      )
      expect(isGetOrCreateError(error)).toBe(false)
      expect(error).toBeInstanceOf(DrizzleQueryError)
      expect(((error as DrizzleQueryError).cause as { code?: unknown } | undefined)?.code).toBe(
        'ECONNREFUSED',
      )
    } finally {
      await pool.end()
    }
  })
})

describe('SQLite via better-sqlite3', () => {
  let temp: ReturnType<typeof tempDir>
  let h: SqliteHarness
  beforeAll(() => {
    temp = tempDir()
    h = openSqlite(`${temp.dir}/errors.db`)
  })
  afterAll(() => {
    h.close()
    temp.remove()
  })

  /** A table whose `slug` (the key) and `email` are unique, with a row that holds the email. */
  function taken() {
    const name = scratchName('dberr')
    h.client.exec(`create table ${name} (id integer primary key, slug text not null unique, title text,
      email text unique); insert into ${name} (slug, email) values ('first', 'taken@example.com')`)
    const table = sqliteTable(name, {
      id: integer('id').primaryKey(),
      slug: text('slug').notNull(),
      title: text('title'),
      email: text('email'),
    })
    return { name, table, store: drizzleStore(h.db, table) }
  }
  const count = (name: string) =>
    (h.other.prepare(`select count(*) as n from ${name}`).get() as { n: number }).n

  /** better-sqlite3's own error, not wrapped by drizzle: class, extended code, message. */
  function emailTaken(error: unknown, name: string) {
    expect(isGetOrCreateError(error)).toBe(false)
    expect(error).not.toBeInstanceOf(DrizzleQueryError)
    expect(error).toBeInstanceOf(Database.SqliteError)
    expect((error as { code?: unknown }).code).toBe('SQLITE_CONSTRAINT_UNIQUE')
    expect((error as Error).message).toBe(`UNIQUE constraint failed: ${name}.email`)
  }

  test("getOrCreate: a unique violation on another column is better-sqlite3's SqliteError itself", async () => {
    const { name, store } = taken()
    const error = await rejection(
      getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, strategy),
    )
    emailTaken(error, name)
    expect(count(name)).toBe(1)
  })

  test('getOrCreateMany: the same, from the batch insert', async () => {
    const { name, store } = taken()
    const error = await rejection(
      getOrCreateMany(
        store,
        [
          { key: { slug: 'a' }, defaults: { email: 'a@example.com' } },
          { key: { slug: 'b' }, defaults: { email: 'taken@example.com' } },
        ],
        strategy,
      ),
    )
    emailTaken(error, name)
    expect(count(name)).toBe(1)
  })

  test('updateOrCreate: the same, from the update', async () => {
    const { name, store } = taken()
    h.other.prepare(`insert into ${name} (slug, email) values ('second', 'second@example.com')`).run()
    const error = await rejection(
      updateOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }, { strategy }),
    )
    emailTaken(error, name)
  })

  test("SERIALIZATION_CONFLICT (SQLITE_BUSY_SNAPSHOT): cause is better-sqlite3's error", async () => {
    const { name, store } = taken()
    await store.uniqueness?.(['slug'])
    h.client.exec('begin')
    try {
      expect(await store.find({ slug: 'late' })).toBe(undefined) // the read that fixes the snapshot
      h.other.prepare(`insert into ${name} (slug) values ('late')`).run()
      const error = await rejection(getOrCreate(store, { slug: 'late' }, {}, strategy))
      expect(error).toBeInstanceOf(SerializationConflictError)
      const cause = (error as Error).cause
      expect(cause).not.toBeInstanceOf(DrizzleQueryError)
      expect(cause).toBeInstanceOf(Database.SqliteError)
      expect((cause as { code?: unknown }).code).toBe('SQLITE_BUSY_SNAPSHOT')
    } finally {
      h.client.exec('rollback')
    }
  })
})
