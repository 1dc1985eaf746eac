/**
 * What the systems share: their postgres.js pool, and reading a database error's SQLSTATE. Their table is
 * `../../tags.ts`, their Redis clients `../../redis.ts`.
 */
import postgres from 'postgres'
import type { CallResult, OpenSystem, SystemContext } from '../system.js'

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

/** The SQLSTATE of a database error, wherever the driver or ORM put it (`code`, `parent.code`, `cause`). */
export function sqlState(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const record = e as { code?: unknown; parent?: unknown; original?: unknown; cause?: unknown }
    if (typeof record.code === 'string' && /^[0-9A-Z]{5}$/.test(record.code)) return record.code
    e = record.parent ?? record.original ?? record.cause
  }
  return undefined
}
