/**
 * Get-or-create on a partitioned Postgres table, where no unique index can cover the key.
 *
 * `events` is partitioned by `occurred_on`. Postgres requires every unique index of a partitioned table to
 * include the partition key, so `(tenant, external_id)` cannot be made unique and the constraint strategy
 * refuses the table (MissingUniqueConstraintError). `redisLockStrategy` serializes the creators of each key
 * with a Redis lock instead.
 *
 * Run: `node --conditions=@getorcreate/source --import tsx src/partitioned-redis-lock.ts` (uses DATABASE_URL and
 * REDIS_URL, else postgres://root@127.0.0.1:5432/test and redis://127.0.0.1:6379).
 */
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { redisLockStrategy } from '@getorcreate/redis-lock'
import { bigserial, date, pgTable, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import type { Redis } from 'ioredis'
import postgres from 'postgres'
import { connectRedis } from './redis.js'

/** What {@link main} did. */
export interface PartitionedRaceSummary {
  /** The table it created (and dropped). */
  readonly table: string
  /** Distinct keys raced. */
  readonly keys: number
  /** Concurrent callers per key. */
  readonly callersPerKey: number
  /** Rows in the table after the race: equals `keys`. */
  readonly rows: number
  /** Calls that returned `created: true`: equals `keys`. */
  readonly created: number
  /** Wall time of the race, in milliseconds. */
  readonly durationMs: number
}

/**
 * Create a uniquely named partitioned table, race `callersPerKey` callers on each of `keys` keys through
 * `drizzleStore` + `redisLockStrategy`, check there is exactly one row per key, drop the table.
 *
 * @throws Error when any key ends with other than one row (it never should).
 */
export async function main(databaseUrl: string, redisUrl: string): Promise<PartitionedRaceSummary> {
  const table = `events_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const keys = 20
  const callersPerKey = 25
  const sql = postgres(databaseUrl, { max: 16, onnotice: () => undefined })
  let redis: Redis | undefined
  try {
    // A dedicated lock connection: no offline queue, one retry, so a Redis outage fails fast. It is ready,
    // or `No Redis answers at …` within 3 s.
    redis = await connectRedis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    await sql.unsafe(`
      create table ${table} (
        id bigserial,
        tenant text not null,
        external_id text not null,
        occurred_on date not null,
        payload text,
        primary key (id, occurred_on)
      ) partition by range (occurred_on);
      create table ${table}_2025 partition of ${table} for values from ('2025-01-01') to ('2026-01-01');
      create table ${table}_2026 partition of ${table} for values from ('2026-01-01') to ('2027-01-01');`)
    const events = pgTable(table, {
      id: bigserial('id', { mode: 'number' }).notNull(),
      tenant: text('tenant').notNull(),
      externalId: text('external_id').notNull(),
      occurredOn: date('occurred_on', { mode: 'string' }).notNull(),
      payload: text('payload'),
    })
    const store = drizzleStore(drizzle(sql), events)
    const strategy = redisLockStrategy({ clients: redis, ttlMs: 5_000, acquireTimeoutMs: 30_000 })

    const started = Date.now()
    const results = await Promise.all(
      Array.from({ length: keys }, (_, k) => ({ tenant: 'acme', externalId: `evt-${k}` })).flatMap((key, k) =>
        Array.from({ length: callersPerKey }, async () => {
          const { row, created } = await getOrCreate(
            store,
            key,
            () => ({ occurredOn: k % 2 === 0 ? '2025-06-01' : '2026-11-29', payload: 'first seen' }),
            strategy,
          )
          return { key: key.externalId, id: row.id, created }
        }),
      ),
    )
    const durationMs = Date.now() - started

    const counts = await sql.unsafe<{ external_id: string; n: number }[]>(
      `select external_id, count(*)::int as n from ${table} group by external_id`,
    )
    const duplicated = counts.filter((row) => row.n !== 1)
    if (counts.length !== keys || duplicated.length > 0) {
      throw new Error(`expected one row per key, got ${JSON.stringify(counts)}`)
    }
    for (const { key } of results) {
      const ids = new Set(results.filter((result) => result.key === key).map((result) => result.id))
      if (ids.size !== 1) throw new Error(`callers of ${key} saw ${ids.size} different rows`)
    }
    const created = results.filter((result) => result.created).length
    if (created !== keys) throw new Error(`expected ${keys} created: true, got ${created}`)
    return { table, keys, callersPerKey, rows: counts.length, created, durationMs }
  } finally {
    await sql.unsafe(`drop table if exists ${table}`).catch(() => undefined)
    await sql.end({ timeout: 5 })
    redis?.disconnect()
  }
}

const entry = process.argv[1]
if (entry && import.meta.url === pathToFileURL(entry).href) {
  const summary = await main(
    process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
    process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  )
  console.log(summary)
}
