/**
 * getOrCreate on MariaDB / MySQL through drizzle's mysql2 driver, including inside a REPEATABLE READ
 * transaction (the default isolation there). Run: `node --conditions=@getorcreate/source --import tsx src/mariadb.ts`
 * (MYSQL_URL, else mysql://root@127.0.0.1:3306/test).
 */
import { pathToFileURL } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { int, mysqlTable, uniqueIndex, varchar } from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'
import { uniqueName } from './database.js'

/** What {@link main} saw. */
export interface MariaDbSummary {
  /** Concurrent callers of one key. */
  readonly callers: number
  /** Calls that returned `created: true`: 1. */
  readonly created: number
  /** Distinct ids the callers were given: 1. */
  readonly ids: number
  /** Rows for the key in the table: 1. */
  readonly rows: number
  /** The row found again inside a transaction, not created. */
  readonly inTransaction: { readonly created: boolean; readonly sameId: boolean }
}

/** Race `callers` callers on one key, then find it again inside a transaction; drop the table. */
export async function main(url = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', callers = 20) {
  const name = uniqueName('users')
  const pool = mysql.createPool({ uri: url, connectionLimit: callers })
  try {
    await pool.query(
      `create table ${name} (id int auto_increment primary key, email varchar(200) not null, name varchar(200),
       unique key ${name}_email (email))`,
    )
    const users = mysqlTable(
      name,
      {
        id: int('id').autoincrement().primaryKey(),
        email: varchar('email', { length: 200 }).notNull(),
        name: varchar('name', { length: 200 }),
      },
      (t) => [uniqueIndex(`${name}_email`).on(t.email)],
    )
    const db = drizzle(pool, { mode: 'default' })
    const store = drizzleStore(db, users)
    const results = await Promise.all(
      Array.from({ length: callers }, () =>
        getOrCreate(store, { email: 'ada@example.com' }, { name: 'Ada' }),
      ),
    )
    const again = await db.transaction(async (tx) =>
      getOrCreate(drizzleStore(tx, users), { email: 'ada@example.com' }),
    )
    const [rows] = await pool.query(`select count(*) as n from ${name}`)
    return {
      callers,
      created: results.filter((result) => result.created).length,
      ids: new Set(results.map((result) => result.row.id)).size,
      rows: Number((rows as { n: number }[])[0]?.n),
      inTransaction: { created: again.created, sameId: again.row.id === results[0]?.row.id },
    } satisfies MariaDbSummary
  } finally {
    await pool.query(`drop table if exists ${name}`)
    await pool.end()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await main())
}
