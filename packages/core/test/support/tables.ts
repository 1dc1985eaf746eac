import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'

/** `items`: a surrogate id, a key column and a second unique column (email). DDL below: the drizzle schema
 * declares no unique constraint on purpose: the coverage check must read the live catalog. */
export function itemsTable(name: string) {
  return pgTable(name, {
    id: serial('id').primaryKey(),
    slug: text('slug'),
    tenant: integer('tenant'),
    title: text('title'),
    email: text('email'),
    createdAt: timestamp('created_at', { withTimezone: true }).defaultNow(),
  })
}

/** DDL for {@link itemsTable} plus extra statements (indexes), run as one script. */
export function itemsDdl(name: string, ...extra: string[]): string {
  return [
    `create table ${name} (id serial primary key, slug text, tenant integer, title text, email text unique, created_at timestamptz default now())`,
    ...extra,
  ].join(';\n')
}
