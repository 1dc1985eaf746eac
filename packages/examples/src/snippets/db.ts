/**
 * What the READMEs' snippets import as "your" database and table (`./db.js`), so that each snippet, kept
 * verbatim beside it, type-checks as printed. Never run.
 */
import { bigserial, pgTable, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

/** Events keyed by (tenant, externalId), with no unique index on the key (a partitioned table, say). */
export const events = pgTable('events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenant: text('tenant').notNull(),
  externalId: text('external_id').notNull(),
  payload: text('payload'),
})

/** A drizzle database over postgres.js. */
export const db = drizzle(postgres(process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test'))
