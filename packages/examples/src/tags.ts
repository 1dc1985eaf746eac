/**
 * The `tags` table that the quickstart, the demo and the bench get or create rows in: `id serial primary key,
 * slug text not null, label text`, keyed by `slug`. One definition for drizzle, one for the SQL that makes it.
 */
import { pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core'

/** A row of a `tags` table, as SQL clients return it. */
export interface TagRow {
  readonly id: number
  readonly slug: string
  readonly label: string | null
}

/**
 * How `slug` is indexed: `'unique'` (what makes `getOrCreate`'s default strategy safe), `'non-unique'` (a
 * table looked up by key that cannot have a unique index), or `'none'` (the naive code as people first write it).
 */
export type SlugIndex = 'unique' | 'non-unique' | 'none'

/**
 * The drizzle definition of a `tags` table named `name`. `uniqueSlug` declares the unique index on `slug` in
 * the schema too, as the README's quickstart does; the index that counts is the one in the database
 * ({@link createTagsTableSql}).
 */
export function tagsTable(name: string, { uniqueSlug = false }: { uniqueSlug?: boolean } = {}) {
  return pgTable(
    name,
    { id: serial('id').primaryKey(), slug: text('slug').notNull(), label: text('label') },
    (t) => (uniqueSlug ? [uniqueIndex().on(t.slug)] : []),
  )
}

/** The SQL (one or two statements) that creates a `tags` table named `name` with `slugIndex` on `slug`. */
export function createTagsTableSql(name: string, slugIndex: SlugIndex): string {
  const table = `create table ${name} (id serial primary key, slug text not null, label text)`
  if (slugIndex === 'unique') return `${table}; create unique index on ${name} (slug)`
  if (slugIndex === 'non-unique') return `${table}; create index on ${name} (slug)`
  return table
}
