export { type DrizzleStore, drizzleStore } from './drizzle-store.js'
export type { AnyMySqlDatabase } from './mysql-store.js'
export type { AnyPgDatabase } from './pg-store.js'
export type { AnySQLiteDatabase } from './sqlite-store.js'
