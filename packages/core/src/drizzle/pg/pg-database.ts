import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'

/** A drizzle Postgres database or transaction, whatever its driver (postgres.js, node-postgres, PGlite) and schema. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's schema generics are invariant; any schema is accepted.
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>
