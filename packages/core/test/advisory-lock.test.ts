/**
 * `advisoryLockStrategy` on real Postgres (postgres.js, node-postgres) and PGlite: a hit takes no lock, a miss
 * creates under `pg_advisory_xact_lock` in a transaction of its own, races on a table without a unique index
 * make one row per key, the caller's transaction holds the lock to its commit, REPEATABLE READ is refused, a
 * bounded wait ends in `LockUnavailableError` (leaving the caller's transaction usable), and stores that are not
 * Postgres are refused before any I/O.
 */
import { setTimeout as delay } from 'node:timers/promises'
import {
  advisoryLockIdFor,
  advisoryLockStrategy,
  getOrCreate,
  isGetOrCreateError,
  memoryStore,
} from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import {
  databaseUrl,
  type RaceOutcome,
  raceViolations,
  runConcurrently,
  scratchName,
  shuffledCalls,
} from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import { integer as sqliteInteger, sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'
import { CASE_INSENSITIVE_COLLATION } from './support/pg-equal-keys.js'
import { itemsDdl, itemsTable } from './support/tables.js'

/** Callers at once in the races; every pool below is at least this large. */
const CONCURRENCY = 24

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

function codeOf(error: unknown): string | undefined {
  return isGetOrCreateError(error) ? error.code : undefined
}

/** The lock id the strategy takes for `slug` of `store` (from the store's own lock identity). */
async function lockIdOf(store: ReturnType<typeof drizzleStore>, slug: string): Promise<bigint> {
  const identity = await store.lockIdentity!({ slug })
  return advisoryLockIdFor(identity.table, identity.key as Record<string, unknown>)
}

for (const driver of PG_DRIVERS) {
  describe(`advisoryLockStrategy on ${driver}`, () => {
    let h: PgHarness
    beforeAll(async () => {
      h = await openPg(driver, CONCURRENCY + 4)
    })
    afterAll(async () => {
      await h.close()
    })

    async function plainTable() {
      const name = h.table('adv')
      await h.exec(itemsDdl(name))
      return { name, table: itemsTable(name), store: drizzleStore(h.db, itemsTable(name)) }
    }
    const count = async (name: string, slug?: string) =>
      Number(
        (
          await h.rows(
            `select count(*)::int as n from ${name}${slug === undefined ? '' : ` where slug = '${slug}'`}`,
          )
        )[0]?.n,
      )

    test('a hit sends one statement and takes no lock; a miss creates in its own transaction', async () => {
      const { name, store } = await plainTable()
      const strategy = advisoryLockStrategy()
      await h.exec(`insert into ${name} (slug, title) values ('seeded', 'old')`)
      const before = h.queries.length
      const hit = await getOrCreate(store, { slug: 'seeded' }, { title: 'new' }, strategy)
      expect(hit.created).toBe(false)
      expect(hit.row.title).toBe('old')
      expect(h.queries.slice(before)).toHaveLength(1)
      expect(h.queries.slice(before).join('\n')).not.toMatch(/advisory/)

      const missFrom = h.queries.length
      const miss = await getOrCreate(store, { slug: 'fresh' }, { title: 'made' }, strategy)
      expect(miss).toMatchObject({ created: true, row: { slug: 'fresh', title: 'made' } })
      const sent = h.queries.slice(missFrom)
      // The lock, then the find-or-insert in one statement (BEGIN and COMMIT are not logged by every driver).
      expect(sent.filter((query) => /pg_advisory_xact_lock/.test(query))).toHaveLength(1)
      expect(sent.filter((query) => /^with created as/.test(query))).toHaveLength(1)
      expect(await count(name, 'fresh')).toBe(1)
      // A second call for the key is a hit: the same row.
      const again = await getOrCreate(store, { slug: 'fresh' }, { title: 'other' }, strategy)
      expect(again).toEqual({ created: false, row: miss.row })
    })

    test(`${CONCURRENCY} callers at once on a table without a unique index: one row and one created per key`, async () => {
      const { name, store } = await plainTable()
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
      const outcomes: RaceOutcome[] = []
      for (const singleFlight of [false, true]) {
        const strategy = advisoryLockStrategy({ singleFlight })
        const prefixed = keys.map((key) => `${key}-${singleFlight}`)
        const calls = shuffledCalls(prefixed, 6, singleFlight ? 2 : 1)
        const { results, errors } = await runConcurrently(calls, CONCURRENCY, async (slug) => {
          const { row, created } = await getOrCreate(store, { slug }, { title: slug }, strategy)
          return { key: slug, id: row.id, created }
        })
        expect(errors).toEqual([])
        for (const result of results) if (result) outcomes.push(result)
      }
      expect(outcomes).toHaveLength(keys.length * 6 * 2)
      const counts = await h.rows(`select slug, count(*)::int as n from ${name} group by slug`)
      const rowsByKey = new Map(counts.map((row) => [String(row.slug), Number(row.n)]))
      const all = [false, true].flatMap((flag) => keys.map((key) => `${key}-${flag}`))
      expect(raceViolations({ keys: all, outcomes, rowsByKey })).toEqual([])
    })

    test('inside callers’ transactions: the lock is held to each commit, one row and one created per key', async () => {
      const { name, table } = await plainTable()
      const strategy = advisoryLockStrategy({ singleFlight: false })
      const keys = Array.from({ length: 20 }, (_, i) => `t${i}`)
      const calls = shuffledCalls(keys, 4, 3)
      const { results, errors } = await runConcurrently(calls, CONCURRENCY, (slug) =>
        h.db.transaction(async (tx) => {
          const store = drizzleStore(tx as unknown as AnyPgDatabase, table)
          const { row, created } = await getOrCreate(store, { slug }, { title: slug }, strategy)
          // Work after the create, before the commit: the row is invisible to others all that time.
          await delay(Math.floor(Math.random() * 8))
          return { key: slug, id: row.id, created }
        }),
      )
      expect(errors).toEqual([])
      const counts = await h.rows(`select slug, count(*)::int as n from ${name} group by slug`)
      const rowsByKey = new Map(counts.map((row) => [String(row.slug), Number(row.n)]))
      const outcomes: RaceOutcome[] = []
      for (const result of results) if (result) outcomes.push(result)
      expect(outcomes).toHaveLength(calls.length)
      expect(raceViolations({ keys, outcomes, rowsByKey })).toEqual([])
    })

    test('a transaction at REPEATABLE READ is refused before the lock, and stays usable', async () => {
      const { name, table } = await plainTable()
      const strategy = advisoryLockStrategy()
      const outcome = await h.db.transaction(
        async (tx) => {
          const store = drizzleStore(tx as unknown as AnyPgDatabase, table)
          const error = await rejection(getOrCreate(store, { slug: 'rr' }, { title: 'x' }, strategy))
          const locks = await tx.execute(
            "select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()",
          )
          const rows = Array.isArray(locks) ? locks : (locks as { rows: unknown[] }).rows
          return { error, held: Number((rows[0] as { n: unknown }).n) }
        },
        { isolationLevel: 'repeatable read' },
      )
      expect(codeOf(outcome.error)).toBe('LOCK_IN_TRANSACTION')
      expect(String((outcome.error as Error).message)).toMatch(/REPEATABLE READ/)
      expect(outcome.held).toBe(0)
      expect(await count(name)).toBe(0)
    })

    test('the lock id is advisoryLockIdFor of the store’s lock identity, as pg_locks shows it', async () => {
      const { table } = await plainTable()
      const strategy = advisoryLockStrategy()
      const id = await lockIdOf(drizzleStore(h.db, table), 'shown')
      const seen = await h.db.transaction(async (tx) => {
        await getOrCreate(
          drizzleStore(tx as unknown as AnyPgDatabase, table),
          { slug: 'shown' },
          {},
          strategy,
        )
        const result = await tx.execute(
          "select classid::text as hi, objid::text as lo from pg_locks where locktype = 'advisory' and objsubid = 1 and pid = pg_backend_pid()",
        )
        return Array.isArray(result) ? result : (result as { rows: unknown[] }).rows
      })
      const unsigned = BigInt.asUintN(64, id)
      expect(seen).toEqual([{ hi: String(unsigned >> 32n), lo: String(unsigned & 0xffffffffn) }])
    })

    if (driver !== 'pglite') {
      test('another holder past lockTimeoutMs: LockUnavailableError, nothing written; then it succeeds', async () => {
        const { name, store } = await plainTable()
        const strategy = advisoryLockStrategy({ lockTimeoutMs: 300 })
        const id = await lockIdOf(store, 'busy')
        const holder = await h.session!()
        try {
          await holder.exec(`begin; select pg_advisory_xact_lock(${id})`)
          const started = performance.now()
          const error = await rejection(getOrCreate(store, { slug: 'busy' }, { title: 'x' }, strategy))
          const waited = performance.now() - started
          expect(codeOf(error)).toBe('LOCK_UNAVAILABLE')
          expect((error as { retryable?: boolean }).retryable).toBe(true)
          expect(waited).toBeGreaterThanOrEqual(280)
          expect(await count(name, 'busy')).toBe(0)
          await holder.exec('commit')
          const after = await getOrCreate(store, { slug: 'busy' }, { title: 'x' }, strategy)
          expect(after.created).toBe(true)
        } finally {
          await holder.exec('rollback').catch(() => {})
          await holder.release()
        }
      })

      test('in a caller’s transaction, a lock held past lockTimeoutMs leaves that transaction usable', async () => {
        const { name, table, store } = await plainTable()
        const strategy = advisoryLockStrategy({ lockTimeoutMs: 200 })
        const id = await lockIdOf(store, 'busy-tx')
        const holder = await h.session!()
        try {
          await holder.exec(`begin; select pg_advisory_xact_lock(${id})`)
          const outcome = await h.db.transaction(async (tx) => {
            const inTx = drizzleStore(tx as unknown as AnyPgDatabase, table)
            const error = await rejection(getOrCreate(inTx, { slug: 'busy-tx' }, { title: 'x' }, strategy))
            // Still usable: a write after the failed call commits with the transaction.
            await tx.execute(`insert into ${name} (slug, title) values ('after', 'y')`)
            return error
          })
          expect(codeOf(outcome)).toBe('LOCK_UNAVAILABLE')
          expect(String((outcome as Error).message)).toMatch(/transaction is intact/)
          expect(await count(name, 'busy-tx')).toBe(0)
          expect(await count(name, 'after')).toBe(1)
        } finally {
          await holder.exec('rollback').catch(() => {})
          await holder.release()
        }
      })

      test('a creator in a transaction makes the next one wait until it commits, then read its row', async () => {
        const { name, table, store } = await plainTable()
        const strategy = advisoryLockStrategy()
        let release: () => void = () => {}
        const gate = new Promise<void>((resolve) => {
          release = resolve
        })
        let created: { id: number } | undefined
        const first = h.db.transaction(async (tx) => {
          const inTx = drizzleStore(tx as unknown as AnyPgDatabase, table)
          const result = await getOrCreate(inTx, { slug: 'held' }, { title: 'first' }, strategy)
          created = result.row
          await gate
          return result
        })
        while (created === undefined) await delay(5)
        const second = getOrCreate(store, { slug: 'held' }, { title: 'second' }, strategy)
        let settled = false
        void second.then(
          () => (settled = true),
          () => (settled = true),
        )
        await delay(300)
        // The second caller's read missed the uncommitted row, and it now waits for the first one's lock.
        expect(settled).toBe(false)
        release()
        const [a, b] = await Promise.all([first, second])
        expect(a.created).toBe(true)
        expect(b).toEqual({ created: false, row: a.row })
        expect(await count(name, 'held')).toBe(1)
      })
    }

    if (driver !== 'pglite') {
      test('a key under a nondeterministic collation has no lock key: InvalidKeyError, nothing written', async () => {
        const name = h.table('adv_ci')
        await h.exec(
          `${CASE_INSENSITIVE_COLLATION}; create table ${name} (id serial primary key, k text collate goc_ci)`,
        )
        const store = drizzleStore(h.db, pgTable(name, { id: serial('id').primaryKey(), k: text('k') }))
        const error = await rejection(getOrCreate(store, { k: 'Bob' }, {}, advisoryLockStrategy()))
        expect(codeOf(error)).toBe('INVALID_KEY')
        expect(String((error as Error).message)).toMatch(/nondeterministic collation/)
        expect(Number((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n)).toBe(0)
      })
    }

    test('no session state is left on the connection: no advisory lock, lock_timeout unchanged (transaction poolers)', async () => {
      // One connection, so the statements after the calls run on the session the calls used.
      const one = await openPg(driver, 1)
      try {
        const name = one.table('adv_one')
        await one.exec(itemsDdl(name))
        const store = drizzleStore(one.db, itemsTable(name))
        const strategy = advisoryLockStrategy({ lockTimeoutMs: 1234 })
        await getOrCreate(store, { slug: 'a' }, {}, strategy) // created
        await one.db.transaction(async (tx) => {
          await getOrCreate(
            drizzleStore(tx as unknown as AnyPgDatabase, itemsTable(name)),
            { slug: 'b' },
            {},
            strategy,
          )
        })
        await getOrCreate(store, { slug: 'a' }, {}, strategy) // a hit
        const state = await one.db.execute(
          "select current_setting('lock_timeout') as timeout, (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as held",
        )
        const rows = (Array.isArray(state) ? state : (state as { rows: unknown[] }).rows) as Record<
          string,
          unknown
        >[]
        expect(rows).toEqual([{ timeout: '0', held: 0 }])
      } finally {
        await one.close()
      }
    })

    test('keys whose lock ids collide wait for each other, and each is created', async () => {
      const { name, store } = await plainTable()
      const lock = { id: 42n, timeoutMs: 5_000 }
      const results = await Promise.all(
        ['c1', 'c2', 'c1', 'c2'].map((slug) =>
          store.findOrInsertUnderAdvisoryLock!({ slug }, { slug, title: slug }, lock),
        ),
      )
      expect(results.filter((result) => result.created)).toHaveLength(2)
      expect(await count(name)).toBe(2)
    })
  })
}

describe('advisoryLockStrategy on a database whose transactions default to REPEATABLE READ', () => {
  const name = scratchName('adv_rr')
  const admin = postgres(databaseUrl(), { max: 2, onnotice: () => undefined })
  const repeatable = {
    'postgres.js': () => {
      const client = postgres(databaseUrl(), {
        max: 4,
        onnotice: () => undefined,
        connection: { default_transaction_isolation: 'repeatable read' },
      })
      return { db: drizzlePostgresJs(client), close: () => client.end({ timeout: 5 }) }
    },
    'node-postgres': () => {
      const pool = new pg.Pool({
        connectionString: databaseUrl(),
        max: 4,
        options: '-c default_transaction_isolation=repeatable\\ read',
      })
      return { db: drizzleNodePg(pool), close: () => pool.end() }
    },
  }
  beforeAll(async () => {
    await admin.unsafe(itemsDdl(name))
  })
  afterAll(async () => {
    await admin.unsafe(`drop table if exists ${name}`)
    await admin.end({ timeout: 5 })
  })

  for (const [driver, open] of Object.entries(repeatable)) {
    test(`${driver}: a row committed while the call waited for the lock is found, not created again`, async () => {
      const { db, close } = open()
      try {
        // The setup holds: a transaction opened without options is REPEATABLE READ here.
        const shown = await db.execute('show default_transaction_isolation')
        const rows = (Array.isArray(shown) ? shown : (shown as { rows: unknown[] }).rows) as Record<
          string,
          unknown
        >[]
        expect(rows[0]?.default_transaction_isolation).toBe('repeatable read')
        const store = drizzleStore(db as unknown as AnyPgDatabase, itemsTable(name))
        const strategy = advisoryLockStrategy()
        const slug = `rr-${driver}`
        const id = await lockIdOf(store, slug)
        // Another creator holds the key's lock and has inserted its row, not yet committed.
        const holder = await admin.reserve()
        try {
          await holder.unsafe(
            `begin; select pg_advisory_xact_lock(${id}); insert into ${name} (slug, title) values ('${slug}', 'theirs')`,
          )
          const call = getOrCreate(store, { slug }, { title: 'mine' }, strategy)
          await delay(200) // the call's read missed the row; it waits for the lock
          await holder.unsafe('commit')
          const result = await call
          expect([result.created, result.row.title]).toEqual([false, 'theirs'])
        } finally {
          holder.release()
        }
        const [row] = await admin.unsafe<{ n: number }[]>(
          `select count(*)::int as n from ${name} where slug = '${slug}'`,
        )
        expect(row?.n).toBe(1)
        // Later calls of the store ask for READ COMMITTED at once, and still create.
        expect((await getOrCreate(store, { slug: `${slug}-2` }, {}, strategy)).created).toBe(true)
      } finally {
        await close()
      }
    })
  }
})

describe('advisoryLockStrategy refuses what it cannot lock', () => {
  test('stores that are not Postgres: LockMisconfiguredError before any I/O', async () => {
    const strategy = advisoryLockStrategy()
    const memory = memoryStore<{ slug: string }>({ uniqueBy: [['slug']] })
    let reads = 0
    const counted = {
      ...memory,
      name: memory.name,
      find: (key: { slug: string }) => {
        reads++
        return memory.find(key)
      },
    }
    const error = await rejection(getOrCreate(counted, { slug: 'a' }, {}, strategy))
    expect(codeOf(error)).toBe('LOCK_MISCONFIGURED')
    expect(String((error as Error).message)).toMatch(/Postgres/)
    expect(reads).toBe(0)

    const sqlite = new Database(':memory:')
    try {
      sqlite.exec('create table t (id integer primary key, slug text not null)')
      const table = sqliteTable('t', {
        id: sqliteInteger('id').primaryKey(),
        slug: sqliteText('slug').notNull(),
      })
      const store = drizzleStore(drizzleSqlite(sqlite), table)
      expect(codeOf(await rejection(getOrCreate(store, { slug: 'a' }, {}, strategy)))).toBe(
        'LOCK_MISCONFIGURED',
      )
      expect(sqlite.prepare('select count(*) as n from t').get()).toEqual({ n: 0 })
    } finally {
      sqlite.close()
    }
  })

  test.each([0, -1, 1.5, Number.NaN, 2 ** 31, '500', null])('lockTimeoutMs %s: RangeError', (value) => {
    expect(() => advisoryLockStrategy({ lockTimeoutMs: value as number })).toThrow(RangeError)
  })

  test('singleFlight must be a boolean; options an object: TypeError, as constraintStrategy', () => {
    expect(() => advisoryLockStrategy({ singleFlight: 'yes' as unknown as boolean })).toThrow(TypeError)
    expect(() => advisoryLockStrategy(null as unknown as object)).toThrow(TypeError)
    expect(advisoryLockStrategy()).toMatchObject({
      name: 'advisory-lock',
      lockTimeoutMs: 10_000,
      singleFlight: true,
    })
  })

  test('advisoryLockIdFor: stable, signed 64-bit, and different for keys JavaScript tells apart', () => {
    const id = advisoryLockIdFor('pg:public.items', { slug: 'a' })
    expect(advisoryLockIdFor('pg:public.items', { slug: 'a' })).toBe(id)
    expect(id).toBe(BigInt.asIntN(64, id))
    expect(advisoryLockIdFor('pg:public.items', { slug: 'b' })).not.toBe(id)
    expect(advisoryLockIdFor('pg:public.other', { slug: 'a' })).not.toBe(id)
    expect(advisoryLockIdFor('pg:public.items', { slug: 1 })).not.toBe(
      advisoryLockIdFor('pg:public.items', { slug: '1' }),
    )
  })
})
