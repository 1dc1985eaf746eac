/** Connections the systems share the shape of: a postgres.js pool, a bounded ioredis client, the drizzle table. */
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { Redis, type RedisOptions } from 'ioredis'
import postgres from 'postgres'
import type { CallResult, OpenSystem, SystemContext } from '../system.js'

/** A row of every bench table: `id serial primary key, slug text not null, label text`. */
export interface TagRow {
  readonly id: number
  readonly slug: string
  readonly label: string | null
}

/** The drizzle definition of a bench table. */
export function tagsTable(name: string) {
  return pgTable(name, { id: serial('id').primaryKey(), slug: text('slug').notNull(), label: text('label') })
}

/** A postgres.js pool of `max` connections (opened lazily, on first use). */
export function postgresPool(url: string, max: number): postgres.Sql {
  return postgres(url, { max, onnotice: () => {} })
}

/** An open system whose every call runs `call` on one postgres.js pool of the context's size. */
export function withPool(
  ctx: SystemContext,
  call: (sql: postgres.Sql, slug: string) => Promise<CallResult>,
): OpenSystem {
  const sql = postgresPool(ctx.databaseUrl, ctx.pool)
  return {
    call: (slug: string) => call(sql, slug),
    teardown: () => sql.end({ timeout: 5 }),
  }
}

/**
 * An ioredis client that is ready, or an error within `timeoutMs` that says which Redis did not answer.
 * `options` default to a dedicated lock connection: no offline queue, one retry.
 */
export async function connectRedis(
  url: string,
  options: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
  timeoutMs = 3_000,
): Promise<Redis> {
  const redis = new Redis(url, { ...options, lazyConnect: true })
  redis.on('error', () => {}) // failures surface as rejected commands; no unhandled 'error' events
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => setTimeout(reject, timeoutMs, new Error('timed out')).unref()),
    ])
  } catch (error) {
    redis.disconnect()
    throw new Error(`No Redis answers at ${url}: ${error instanceof Error ? error.message : String(error)}`)
  }
  return redis
}

/** Close ioredis clients politely (QUIT), or at once where that fails. */
export async function quitRedis(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())))
}

/** The SQLSTATE of a database error, wherever the driver or ORM put it (`code`, `parent.code`, `cause`). */
export function sqlState(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const record = e as { code?: unknown; parent?: unknown; original?: unknown; cause?: unknown }
    if (typeof record.code === 'string' && /^[0-9A-Z]{5}$/.test(record.code)) return record.code
    e = record.parent ?? record.original ?? record.cause
  }
  return undefined
}
