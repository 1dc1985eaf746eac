/**
 * `advisoryLockStrategy` on a partitioned Postgres table, where no unique index can cover the key, with no
 * Redis: the creators of each key take one Postgres advisory lock (`pg_advisory_xact_lock`). On embedded
 * Postgres (PGlite) with drizzle, or on `DATABASE_URL` when it is set.
 *
 * `events` is partitioned by `occurred_on`; Postgres requires every unique index of a partitioned table to
 * include the partition key, so `(tenant, external_id)` cannot be unique and the default strategy refuses the
 * table (MissingUniqueConstraintError). Then 20 keys × 10 callers race under the advisory lock, and one call
 * runs inside a transaction of the caller's, which holds the lock until it commits.
 *
 * Run it: `node --conditions=@getorcreate/source --import tsx src/advisory-lock.ts`
 */
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { advisoryLockStrategy, getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { bigserial, date, pgTable, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

/** The drizzle declaration of the partitioned table named `name`. */
function eventsTable(name: string) {
  return pgTable(name, {
    id: bigserial('id', { mode: 'number' }),
    tenant: text('tenant').notNull(),
    externalId: text('external_id').notNull(),
    occurredOn: date('occurred_on').notNull(),
    payload: text('payload'),
  })
}

/** What the example saw. */
export interface AdvisoryLockRun {
  /** Where it ran: `'pglite'` or `'postgres'`. */
  readonly database: 'pglite' | 'postgres'
  /** The code the default (constraint) strategy refused the table with. */
  readonly constraintStrategy: string
  /** The race: distinct keys, callers per key, rows after it, calls that returned `created: true`. */
  readonly race: {
    readonly keys: number
    readonly callersPerKey: number
    readonly rows: number
    readonly created: number
  }
  /** A key created in the caller's transaction, then asked for again after its commit. */
  readonly inTransaction: {
    readonly created: boolean
    readonly afterCommit: { readonly created: boolean; readonly sameId: boolean }
  }
}

/** Run the example on `databaseUrl`, or on a fresh PGlite when it is undefined. */
export async function main(databaseUrl?: string): Promise<AdvisoryLockRun> {
  const name = `events_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const lite = databaseUrl === undefined ? new PGlite() : undefined
  const sql = databaseUrl === undefined ? undefined : postgres(databaseUrl, { max: 16, onnotice: () => {} })
  const db: AnyPgDatabase = lite ? drizzlePglite(lite) : drizzlePostgres(sql!)
  const exec = async (text: string) => {
    if (lite) await lite.exec(text)
    else await sql!.unsafe(text)
  }
  try {
    await exec(`create table ${name} (id bigserial, tenant text not null, external_id text not null,
      occurred_on date not null, payload text) partition by range (occurred_on);
      create table ${name}_2026 partition of ${name} for values from ('2026-01-01') to ('2027-01-01');
      create index on ${name} (tenant, external_id)`)
    const events = drizzleStore(db, eventsTable(name))
    const defaults = { occurredOn: '2026-12-01', payload: '{}' }

    let refused = 'none'
    try {
      await getOrCreate(events, { tenant: 'acme', externalId: 'evt-0' }, defaults)
    } catch (error) {
      refused = isGetOrCreateError(error) ? error.code : String(error)
    }

    // As the README shows it:
    const strategy = advisoryLockStrategy({ lockTimeoutMs: 5_000 })
    const keys = Array.from({ length: 20 }, (_, i) => `evt-${i}`)
    const calls = keys.flatMap((externalId) => Array.from({ length: 10 }, () => externalId))
    const results = await Promise.all(
      calls.map((externalId) => getOrCreate(events, { tenant: 'acme', externalId }, defaults, strategy)),
    )

    // In the caller's transaction: the lock is held until it commits.
    const inTx = await db.transaction(async (tx) => {
      const store = drizzleStore(tx as unknown as AnyPgDatabase, eventsTable(name))
      return getOrCreate(store, { tenant: 'acme', externalId: 'evt-tx' }, defaults, strategy)
    })
    const after = await getOrCreate(events, { tenant: 'acme', externalId: 'evt-tx' }, defaults, strategy)

    const counted = lite
      ? (
          await lite.query<{ n: number }>(
            `select count(*)::int as n from ${name} where external_id <> 'evt-tx'`,
          )
        ).rows
      : await sql!.unsafe<{ n: number }[]>(
          `select count(*)::int as n from ${name} where external_id <> 'evt-tx'`,
        )
    return {
      database: lite ? 'pglite' : 'postgres',
      constraintStrategy: refused,
      race: {
        keys: keys.length,
        callersPerKey: 10,
        rows: counted[0]?.n ?? -1,
        created: results.filter((result) => result.created).length,
      },
      inTransaction: {
        created: inTx.created,
        afterCommit: { created: after.created, sameId: after.row.id === inTx.row.id },
      },
    }
  } finally {
    if (lite) await lite.close()
    else {
      await exec(`drop table if exists ${name}`)
      await sql!.end({ timeout: 5 })
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.env.DATABASE_URL).then(
    (run) => console.log(JSON.stringify(run, null, 2)),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
