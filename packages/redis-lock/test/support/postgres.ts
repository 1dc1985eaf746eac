/** A Postgres table with no unique index on its key, through drizzleStore, one per test. */
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { scratchName } from '../../../../test-support/guest.js'

/** The local Postgres (set by global-setup). */
export function databaseUrl(): string {
  const url = process.env.DATABASE_URL
  if (!url) throw new Error('DATABASE_URL is not set: global-setup provides it')
  return url
}

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
 * A fresh table (a unique name, tagged with this run: test-support/guest.ts), a pool of `max` connections,
 * and helpers to count and drop.
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

/** What one caller of a race saw. */
export interface Outcome {
  readonly slug: string
  readonly id: number
  readonly created: boolean
}

/**
 * Check a race's outcomes and the table: exactly one row per key, exactly one `created: true` per key, and
 * every caller of a key saw that row's id. Returns a description of every violation (empty when correct).
 */
export function raceViolations(
  slugs: readonly string[],
  callersPerKey: number,
  outcomes: readonly Outcome[],
  rowsBySlug: Map<string, number>,
): string[] {
  const problems: string[] = []
  for (const slug of slugs) {
    const mine = outcomes.filter((outcome) => outcome.slug === slug)
    const rows = rowsBySlug.get(slug) ?? 0
    const created = mine.filter((outcome) => outcome.created).length
    const ids = new Set(mine.map((outcome) => outcome.id))
    if (rows !== 1) problems.push(`${slug}: ${rows} rows`)
    if (created !== 1) problems.push(`${slug}: ${created} created:true`)
    if (ids.size !== 1) problems.push(`${slug}: ${ids.size} distinct ids`)
    if (mine.length !== callersPerKey) problems.push(`${slug}: ${mine.length} outcomes`)
  }
  return problems
}
