import type { MySqlDatabase, MySqlQueryResultHKT, PreparedQueryHKTBase } from 'drizzle-orm/mysql-core'

/** A drizzle MySQL / MariaDB database or transaction (mysql2), whatever its schema. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's schema generics are invariant; any schema is accepted.
export type AnyMySqlDatabase = MySqlDatabase<MySqlQueryResultHKT, PreparedQueryHKTBase, any>
