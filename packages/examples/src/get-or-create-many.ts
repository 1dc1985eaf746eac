/**
 * `getOrCreateMany`, as the README's API section shows it: three items, one of them a repeated key, on
 * embedded Postgres (PGlite) with drizzle.
 *
 * Run it: `node --conditions=@getorcreate/source --import tsx src/get-or-create-many.ts`
 */
import { pathToFileURL } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'

const tagsTable = pgTable(
  'tags',
  { id: serial('id').primaryKey(), slug: text('slug').notNull(), label: text('label') },
  (t) => [uniqueIndex().on(t.slug)],
)

/** A label made by code that may take its time (called only for a key being created). */
async function labelFor(slug: string): Promise<string> {
  return slug[0]?.toUpperCase() + slug.slice(1)
}

/** Run the README's example twice; what each run answered. */
export async function main(): Promise<{ slug: string; id: number; created: boolean }[][]> {
  const client = new PGlite()
  try {
    await client.exec('create table tags (id serial primary key, slug text not null unique, label text)')
    const tags = drizzleStore(drizzle(client), tagsTable)
    const runs: { slug: string; id: number; created: boolean }[][] = []
    for (let run = 0; run < 2; run++) {
      // As printed in the README:
      const [news, sport, again] = await getOrCreateMany(tags, [
        { key: { slug: 'news' }, defaults: { label: 'News' } },
        { key: { slug: 'sport' }, defaults: async () => ({ label: await labelFor('sport') }) },
        { key: { slug: 'news' } }, // the same key: settled once, same row, created: false
      ])
      runs.push(
        [news, sport, again].map((result) => ({
          slug: result!.row.slug,
          id: result!.row.id,
          created: result!.created,
        })),
      )
    }
    return runs
  } finally {
    await client.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (runs) => console.log(JSON.stringify(runs, null, 2)),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
