/**
 * The store conformance suite of `@getorcreate/core/testing`, in its lock-strategy mode (`enforcedBy:
 * 'strategy'`), with the real `redisLockStrategy`: on the local Redis (REDIS_URL) over `memoryStore()` and
 * over a Postgres `drizzleStore` (postgres.js), and on 3 `redis-server` nodes (Redlock) over Postgres.
 *
 * The tables have no unique index on their key (the lock alone must keep one row per key, which is what the
 * strategy is for), except the Postgres `'unique'` shape: see {@link postgresTable}.
 *
 * Of the suite's cases, every one runs except "no unique index on the key: MissingUniqueConstraintError",
 * which the suite declares only for `enforcedBy: 'index'`: a lock strategy exists for keys without a unique
 * index and never asks for one, so that refusal does not apply; the suite runs its race on a table without
 * any unique index in its place. The cases of optional members run for the members each store has (see
 * `members` below): `insertIfAbsentAtomically` and `statements` on Postgres only.
 *
 * On the local Redis each store gets the suite twice: with one strategy, as an application uses it (callers
 * of one key in this process then share one lock acquisition), and with one strategy per caller, independent
 * lock contenders on Redis as if from separate processes. On 3 nodes, Postgres with independent contenders.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { memoryStore } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import {
  type ConformanceShape,
  type ConformanceStore,
  type ConformanceTable,
  runStoreConformance,
} from '@getorcreate/core/testing'
import { databaseUrl, redisUrl, scratchName } from '@getorcreate/test-support'
import { startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { PG_KEY_COLUMNS, PG_LOCK_MODE_MEMBERS, pgEqualKeys } from '../../core/test/support/pg-equal-keys.js'
import { type RedisLockStrategy, redisLockStrategy } from '../src/index.js'
import { contenders } from './support/lock-conformance.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

/** Callers at once in the suite's races; the Postgres pool below is exactly this large. */
const CONCURRENCY = 16

const FIELDS = ['id', 'prefix', 'slug', 'email', 'title']

/** Rows matching `where` (`null` matches NULL), as the suite's `count` asks. */
function matching(rows: readonly Record<string, unknown>[], where: Record<string, unknown>): number {
  return rows.filter((row) => Object.entries(where).every(([field, value]) => (row[field] ?? null) === value))
    .length
}

// ---- Redis -------------------------------------------------------------------------------------------------

const localRedis = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
localRedis.on('error', () => undefined)
if (localRedis.status !== 'ready') await once(localRedis, 'ready')

/** Lock keys of this file on the shared Redis: under a prefix tagged with the run, so nothing else's are touched. */
const localPrefix = `getorcreate:lock:${scratchName('rl_conformance')}:`

const threeNodes = await startRedisNodes(3)
const threeClients = await Promise.all(threeNodes.map((node) => node.client()))
const threePrefix = 'getorcreate:lock:'

afterAll(async () => {
  localRedis.disconnect()
  await Promise.all(threeNodes.map((node) => node.stop()))
})

failOnUnhandledRejections(50)

/** Lock keys under `prefix` on `client`. */
async function lockKeys(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of client.scanStream({ match: `${prefix}*`, count: 1000 })) {
    keys.push(...(batch as string[]))
  }
  return keys
}

// After every test no lock is left on any node: a release after a success is not awaited by the caller, so it
// gets up to a second to land.
afterEach(async () => {
  const deadline = Date.now() + 1_000
  for (;;) {
    const left = (
      await Promise.all([
        lockKeys(localRedis, localPrefix),
        ...threeClients.map((client) => lockKeys(client, threePrefix)),
      ])
    ).flat()
    if (left.length === 0 || Date.now() >= deadline) {
      expect(left).toEqual([])
      return
    }
    await delay(10)
  }
})

const onLocalRedis = () => redisLockStrategy({ clients: localRedis, keyPrefix: localPrefix })
const onThreeNodes = () => redisLockStrategy({ clients: threeClients })

// ---- memoryStore -------------------------------------------------------------------------------------------

/**
 * A `memoryStore()` without `uniqueBy`: nothing in it stops a second row for a key. For `'unique'`, `email`
 * is unique (NULLs distinct), the "other unique constraint" whose conflict must reach the caller.
 */
async function memoryTable(shape: ConformanceShape): Promise<ConformanceTable> {
  const inner = memoryStore<Record<string, unknown>>({
    name: `memory:${randomBytes(6).toString('hex')}`,
    autoIncrement: 'id',
  })
  const store: ConformanceStore = Object.assign(Object.create(null), inner, { fields: FIELDS })
  if (shape === 'unique') {
    const checkEmail = (values: Record<string, unknown>) => {
      if (values.email != null && inner.rows().some((row) => row.email === values.email)) {
        throw Object.assign(new Error('duplicate email'), { code: 'UNIQUE_VIOLATION' })
      }
    }
    store.insert = async (values, opts) => {
      checkEmail(values)
      return inner.insert(values, opts)
    }
    store.insertIfAbsentUnderLock = async (key, values) => {
      if ((await inner.find(key, { fresh: true })) !== undefined) return undefined
      checkEmail(values)
      return inner.insertIfAbsentUnderLock(key, values)
    }
  }
  return {
    store,
    count: async (where = {}) => matching(inner.rows(), where),
    insertBehind: async (values) => void (await inner.insert(values)),
  }
}

// ---- Postgres (drizzleStore on postgres.js) ----------------------------------------------------------------

/** One pool for the file, as large as the races (pool ≥ concurrency); every table is dropped by its test. */
const sql = postgres(databaseUrl(), { max: CONCURRENCY, onnotice: () => undefined })
const openTables = new Set<string>()
afterAll(async () => {
  try {
    // A table whose test could not drop it (it failed mid-way): dropped here, never left behind.
    for (const name of openTables) await sql.unsafe(`drop table if exists ${name}`)
  } finally {
    await sql.end({ timeout: 5 })
  }
})

/** The drizzle table of a shape: every column but `id` is text; `slug` is NOT NULL except in `'nullable'`. */
function shapeTable(name: string, shape: ConformanceShape) {
  return pgTable(name, {
    id: serial('id').primaryKey(),
    prefix: text('prefix'),
    slug: shape === 'nullable' ? text('slug') : text('slug').notNull(),
    email: text('email'),
    title: text('title'),
  })
}

/**
 * A fresh table (named by `scratchName`, so the global setup knows it is this run's). `'no-unique'`,
 * `'composite'` and `'nullable'` have no unique index on the key: only the lock keeps one row per key. The
 * `'unique'` shape is as the suite defines it, `slug` and `email` each unique: the suite calls the store's
 * `insertIfAbsentAtomically` (`INSERT … ON CONFLICT (slug) DO NOTHING`, which Postgres refuses without that index) on it
 * directly, and drizzleStore always has that method. A lock that let two creators in would still fail the
 * races there: the second insert raises the unique violation, and the suite expects no call to fail.
 * The store is `drizzleStore(db, table)` over the file's pool, with a logger counting its statements; `count`
 * and `insertBehind` go around it on the same pool.
 */
async function postgresTable(shape: ConformanceShape): Promise<ConformanceTable> {
  const name = scratchName('rl_conf')
  openTables.add(name)
  await sql.unsafe(`create table ${name} (
    id serial primary key,
    prefix text ${shape === 'composite' ? 'not null' : ''},
    slug text ${shape === 'nullable' ? '' : 'not null'} ${shape === 'unique' ? 'unique' : ''},
    email text ${shape === 'unique' ? 'unique' : ''},
    title text
  )`)
  let statements = 0
  const db = drizzle(sql, { logger: { logQuery: () => void statements++ } })
  const store = drizzleStore(db, shapeTable(name, shape)) as unknown as ConformanceStore
  return {
    store,
    count: async (where = {}) => {
      const params: string[] = []
      const clauses = Object.entries(where).map(([field, value]) => {
        if (value === null) return `"${field}" is null`
        params.push(String(value))
        return `"${field}" = $${params.length}`
      })
      const filter = clauses.length > 0 ? `where ${clauses.join(' and ')}` : ''
      const [row] = await sql.unsafe<{ n: number }[]>(
        `select count(*)::int as n from ${name} ${filter}`,
        params,
      )
      return row?.n ?? -1
    },
    insertBehind: async (values) => {
      const fields = Object.keys(values)
      await sql.unsafe(
        `insert into ${name} (${fields.map((field) => `"${field}"`).join(', ')}) values (${fields.map((_, i) => `$${i + 1}`).join(', ')})`,
        Object.values(values).map((value) => (value === null ? null : String(value))),
      )
    },
    statements: () => statements,
    close: async () => {
      await sql.unsafe(`drop table if exists ${name}`)
      openTables.delete(name)
    },
  }
}

/**
 * The Postgres key-equality cases of the core suite (spellings Postgres stores or compares as one key), on
 * tables without a unique index: only the lock, keyed by `lockIdentity`, keeps one row. The case-insensitive
 * collation case is left out: `lockIdentity` refuses a nondeterministic collation (lock-identity tests).
 */
const postgresEqualKeys = pgEqualKeys(
  async () => {
    const tables: string[] = []
    return {
      exec: async (text: string) => void (await sql.unsafe(text)),
      rows: async (text: string) => [...(await sql.unsafe(text))] as Record<string, unknown>[],
      db: drizzle(sql),
      table: () => {
        const name = scratchName('rl_eq')
        tables.push(name)
        openTables.add(name)
        return name
      },
      close: async () => {
        for (const name of tables) {
          await sql.unsafe(`drop table if exists ${name}`)
          openTables.delete(name)
        }
      },
    }
  },
  { unique: false, columns: PG_KEY_COLUMNS.filter((spec) => !spec.lockRefused) },
)

// ---- the suites --------------------------------------------------------------------------------------------

const api = { describe, test, expect }
/** Lock strategy mode: no unique index anywhere, exact counts still; NULL is a value like any other for a lock. */
const lockMode = { enforcedBy: 'strategy', nullKeys: 'allowed', concurrency: CONCURRENCY } as const
const independent = (make: () => RedisLockStrategy) =>
  contenders(Array.from({ length: CONCURRENCY }, () => make()))

/** memoryStore() without `uniqueBy` has no insertIfAbsentAtomically; drizzleStore on Postgres has every member. */
const memoryMembers = { members: ['insertIfAbsentUnderLock', 'uniqueIndexFix', 'update'] } as const
const postgresMembers = {
  members: PG_LOCK_MODE_MEMBERS,
  equalKeys: postgresEqualKeys,
} as const

runStoreConformance(api, {
  ...lockMode,
  name: 'redisLockStrategy (REDIS_URL, one strategy) over memoryStore() without unique keys',
  table: memoryTable,
  ...memoryMembers,
  strategy: onLocalRedis(),
})

runStoreConformance(api, {
  ...lockMode,
  name: `redisLockStrategy (REDIS_URL, ${CONCURRENCY} independent strategies) over memoryStore() without unique keys`,
  table: memoryTable,
  ...memoryMembers,
  strategy: independent(onLocalRedis),
})

runStoreConformance(api, {
  ...lockMode,
  name: 'redisLockStrategy (REDIS_URL, one strategy) over drizzleStore, Postgres (postgres.js), no unique index on the key',
  table: postgresTable,
  ...postgresMembers,
  strategy: onLocalRedis(),
})

runStoreConformance(api, {
  ...lockMode,
  name: `redisLockStrategy (REDIS_URL, ${CONCURRENCY} independent strategies) over drizzleStore, Postgres (postgres.js), no unique index on the key`,
  table: postgresTable,
  ...postgresMembers,
  strategy: independent(onLocalRedis),
})

runStoreConformance(api, {
  ...lockMode,
  name: `redisLockStrategy (3 redis-server nodes, Redlock, ${CONCURRENCY} independent strategies) over drizzleStore, Postgres (postgres.js), no unique index on the key`,
  table: postgresTable,
  ...postgresMembers,
  strategy: independent(onThreeNodes),
})
