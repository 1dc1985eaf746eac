/** A Postgres table with no unique index on its key, through drizzleStore, one per test. */
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

/** The drizzle definition of an items table named `name`: `slug` is the key, and nothing makes it unique. */
export function itemsTable(name: string) {
  return pgTable(name, {
    id: serial('id').primaryKey(),
    slug: text('slug').notNull(),
    payload: text('payload'),
    fence: integer('fence'),
  })
}

/**
 * A fresh table (a unique name, tagged with this run: `scratchName`), a pool of `max` connections, and
 * helpers to count and drop.
 */
export async function itemsFixture(max: number) {
  const name = scratchName('rl_items')
  const sql = postgres(databaseUrl(), { max, onnotice: () => undefined })
  await sql.unsafe(
    `create table ${name} (id serial primary key, slug text not null, payload text, fence integer)`,
  )
  const table = itemsTable(name)
  const db = drizzle(sql)
  const store = drizzleStore(db, table)
  return {
    name,
    sql,
    table,
    db,
    store,
    /** Rows per slug, from the table itself. */
    async countBySlug(): Promise<Map<string, number>> {
      const rows = await sql.unsafe<{ slug: string; n: number }[]>(
        `select slug, count(*)::int as n from ${name} group by slug`,
      )
      return new Map(rows.map((row) => [row.slug, row.n]))
    },
    async total(): Promise<number> {
      const [row] = await sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${name}`)
      return row?.n ?? -1
    },
    async drop(): Promise<void> {
      await sql.unsafe(`drop table if exists ${name}`)
      await sql.end({ timeout: 5 })
    },
  }
}
