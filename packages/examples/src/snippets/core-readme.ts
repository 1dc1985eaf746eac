/**
 * The quickstart of packages/core/README.md, verbatim below this comment (`pnpm run docs` checks that the
 * two are the same), so the typecheck proves that it compiles as printed.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

// The unique index on the key is what makes getOrCreate safe.
const tags = pgTable(
  'tags',
  { id: serial('id').primaryKey(), slug: text('slug').notNull(), label: text('label') },
  (t) => [uniqueIndex().on(t.slug)],
)
const client = postgres(process.env.DATABASE_URL ?? 'postgres://localhost:5432/app')
const store = drizzleStore(drizzle(client), tags) // once, at start-up

const { row, created } = await getOrCreate(store, { slug: 'news' }, { label: 'News' })
console.log(row.id, created) // created: true the first time, false ever after
await client.end()
