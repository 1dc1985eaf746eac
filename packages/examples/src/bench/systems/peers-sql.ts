/**
 * Peers written with postgres.js, as people write them: naive find-then-insert (alone and inside a
 * transaction), Django's `get_or_create` algorithm, a Postgres advisory lock around find-then-insert, and a
 * Redis lock around every call (redis-semaphore's `Mutex` on one node and `RedlockMutex` on three, as its
 * README shows).
 */
import type { Redis } from 'ioredis'
import type postgres from 'postgres'
import { Mutex, RedlockMutex } from 'redis-semaphore'
import { connectRedisNodes, quitRedis } from '../../redis.js'
import type { TagRow } from '../../tags.js'
import type { CallResult, OpenSystem, System, SystemContext } from '../system.js'
import { sqlState, withPool } from './connections.js'

type Sql = postgres.Sql | postgres.TransactionSql

async function find(sql: Sql, table: string, slug: string): Promise<TagRow | undefined> {
  const [row] = await sql<TagRow[]>`select * from ${sql(table)} where slug = ${slug} limit 1`
  return row
}

async function insert(sql: Sql, table: string, slug: string): Promise<TagRow> {
  const [row] = await sql<
    TagRow[]
  >`insert into ${sql(table)} (slug, label) values (${slug}, ${slug}) returning *`
  return row!
}

async function findThenInsert(sql: Sql, table: string, slug: string): Promise<CallResult> {
  const found = await find(sql, table, slug)
  if (found) return { id: found.id, created: false }
  return { id: (await insert(sql, table, slug)).id, created: true }
}

/** An open system whose every call runs `call` in a transaction of its own (`BEGIN` … `COMMIT`). */
function withTransaction(
  ctx: SystemContext,
  call: (tx: postgres.TransactionSql, slug: string) => Promise<CallResult>,
): OpenSystem {
  return withPool(ctx, (sql, slug) => sql.begin((tx) => call(tx, slug)) as Promise<CallResult>)
}

/** SELECT by key; none: INSERT. On a table without a unique index, as most code starts out. */
export const naive: System = {
  id: 'naive',
  name: 'naive find-then-insert',
  kind: 'peer',
  table: 'plain',
  reportsCreated: true,
  setup: async (ctx) => withPool(ctx, (sql, slug) => findThenInsert(sql, ctx.table, slug)),
}

/** The same inside a transaction (READ COMMITTED): it does not help. */
export const naiveTransaction: System = {
  id: 'naive-tx',
  name: 'naive, in a transaction',
  kind: 'peer',
  table: 'plain',
  reportsCreated: true,
  setup: async (ctx) => withTransaction(ctx, (tx, slug) => findThenInsert(tx, ctx.table, slug)),
}

/**
 * Django's `QuerySet.get_or_create`: `get()`; else `create()` inside `transaction.atomic()` (a transaction in
 * autocommit mode, a savepoint inside one); on IntegrityError (23505) `get()` again, else re-raise. On a table
 * with a unique index, which Django's docs require for it to be atomic.
 */
export const django: System = {
  id: 'django',
  name: 'Django get_or_create algorithm',
  kind: 'peer',
  table: 'unique',
  reportsCreated: true,
  setup: async (ctx) =>
    withPool(ctx, async (sql, slug) => {
      const found = await find(sql, ctx.table, slug)
      if (found) return { id: found.id, created: false }
      try {
        const row = (await sql.begin((tx) => insert(tx, ctx.table, slug))) as TagRow
        return { id: row.id, created: true }
      } catch (error) {
        if (sqlState(error) !== '23505') throw error
        const winner = await find(sql, ctx.table, slug)
        if (winner) return { id: winner.id, created: false }
        throw error
      }
    }),
}

/** A transaction that takes `pg_advisory_xact_lock(hash of the key)` first, then finds, then inserts. */
export const advisoryLock: System = {
  id: 'advisory-lock',
  name: 'Postgres advisory lock + find-then-insert',
  kind: 'peer',
  table: 'plain',
  reportsCreated: true,
  setup: async (ctx) =>
    withTransaction(ctx, async (tx, slug) => {
      await tx`select pg_advisory_xact_lock(hashtextextended(${`${ctx.table}:${slug}`}, 0))`
      return findThenInsert(tx, ctx.table, slug)
    }),
}

/** A redis-semaphore lock (acquire, release) on the key around every call, hits included, then find-then-insert. */
async function lockAroundEveryCall(
  ctx: SystemContext,
  urls: readonly string[],
  lockFor: (clients: Redis[], key: string) => { acquire(): Promise<void>; release(): Promise<void> },
): Promise<OpenSystem> {
  // ioredis's default options, as redis-semaphore's README makes its clients.
  const clients = await connectRedisNodes(urls, {})
  const { call, teardown } = withPool(ctx, async (sql, slug) => {
    const lock = lockFor(clients, `${ctx.table}:${slug}`)
    await lock.acquire()
    try {
      return await findThenInsert(sql, ctx.table, slug)
    } finally {
      await lock.release()
    }
  })
  return {
    call,
    async teardown() {
      await teardown()
      await quitRedis(clients)
    },
  }
}

/** redis-semaphore's `Mutex` on one node (`REDIS_URL`), as its README shows, around every call. */
export const redisMutex: System = {
  id: 'redis-mutex',
  name: 'Redis lock around every call (redis-semaphore)',
  kind: 'peer',
  table: 'plain',
  reportsCreated: true,
  needs: 'redis',
  setup: (ctx) => lockAroundEveryCall(ctx, [ctx.redisUrl], ([redis], key) => new Mutex(redis as Redis, key)),
}

/**
 * redis-semaphore's `RedlockMutex` on the same three nodes as ours (quorum 2), as its README shows, around
 * every call: the peer of `redisLockStrategy` on three nodes.
 */
export const redisRedlockTrio: System = {
  id: 'redis-redlock-3',
  name: 'Redlock around every call, 3 nodes (redis-semaphore)',
  kind: 'peer',
  table: 'plain',
  reportsCreated: true,
  needs: 'redis-trio',
  setup: (ctx) =>
    lockAroundEveryCall(ctx, ctx.redisTrioUrls, (clients, key) => new RedlockMutex(clients, key)),
}
