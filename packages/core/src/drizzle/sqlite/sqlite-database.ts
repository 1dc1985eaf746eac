import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'

/** A drizzle SQLite database or transaction (better-sqlite3 and other drivers), whatever its schema. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's schema generics are invariant; any schema is accepted.
export type AnySQLiteDatabase = BaseSQLiteDatabase<'sync' | 'async', any, any>
