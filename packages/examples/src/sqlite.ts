/**
 * getOrCreate on SQLite through drizzle's better-sqlite3 driver, on a file in WAL mode that several
 * processes may share. Run: `node --conditions=@getorcreate/source --import tsx src/sqlite.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

const tags = sqliteTable(
  'tags',
  { id: integer('id').primaryKey(), slug: text('slug').notNull(), label: text('label') },
  (t) => [uniqueIndex('tags_slug').on(t.slug)],
)

/** Create a database file, get-or-create a few tags, and return what each call saw. */
export async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'getorcreate-sqlite-'))
  const client = new Database(join(dir, 'app.db'))
  try {
    // WAL lets readers and one writer work at once; busy_timeout makes other processes wait instead of failing.
    client.pragma('journal_mode = WAL')
    client.pragma('busy_timeout = 5000')
    client.exec(
      'create table tags (id integer primary key, slug text not null, label text); create unique index tags_slug on tags (slug)',
    )
    const store = drizzleStore(drizzle({ client }), tags)
    const results = await Promise.all(
      ['news', 'sports', 'news', 'news', 'sports'].map((slug) =>
        getOrCreate(store, { slug }, { label: slug.toUpperCase() }),
      ),
    )
    return {
      created: results.filter((result) => result.created).map((result) => result.row.slug),
      rows: (client.prepare('select count(*) as n from tags').get() as { n: number }).n,
      ids: [...new Set(results.map((result) => result.row.id))],
    }
  } finally {
    client.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await main())
}
