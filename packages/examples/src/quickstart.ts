/**
 * The README's quickstart, runnable: `node --conditions=source --import tsx src/quickstart.ts`
 * (DATABASE_URL, else embedded PGlite). Also: inside a transaction, and a composite key.
 */
import { pathToFileURL } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { integer, pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { openDatabase, uniqueName } from './database.js'

/** The quickstart's table, named per run. The unique index is what makes getOrCreate safe. */
export function tagsTable(name: string) {
  return pgTable(
    name,
    { id: serial('id').primaryKey(), slug: text('slug').notNull(), label: text('label') },
    (t) => [uniqueIndex().on(t.slug)],
  )
}

/** Posts reference tags; a composite unique key (tenant, slug) for the composite example. */
export function postsTable(name: string) {
  return pgTable(
    name,
    {
      id: serial('id').primaryKey(),
      tenant: integer('tenant').notNull(),
      slug: text('slug').notNull(),
      tagId: integer('tag_id'),
    },
    (t) => [uniqueIndex().on(t.tenant, t.slug)],
  )
}

/** Run the three examples on `db` and return what they saw. */
export async function examples(db: AnyPgDatabase, tagsName: string, postsName: string) {
  const tags = tagsTable(tagsName)
  const posts = postsTable(postsName)
  const store = drizzleStore(db, tags) // once, at start-up

  // Quickstart: the first call creates, the second finds.
  const first = await getOrCreate(store, { slug: 'news' }, { label: 'News' })
  const second = await getOrCreate(store, { slug: 'news' }, { label: 'ignored: the row exists' })

  // Inside a transaction: every statement runs in it, and a rollback undoes the create.
  const inTransaction = await db.transaction(async (tx) => {
    const { row: tag } = await getOrCreate(drizzleStore(tx, tags), { slug: 'sports' }, { label: 'Sports' })
    const { row: post, created } = await getOrCreate(
      drizzleStore(tx, posts),
      { tenant: 1, slug: 'hello' },
      () => ({
        tagId: tag.id,
      }),
    )
    return { tag, post, created }
  })

  // A composite key: (tenant, slug) is unique, slug alone is not.
  const postStore = drizzleStore(db, posts)
  const otherTenant = await getOrCreate(postStore, { tenant: 2, slug: 'hello' })
  const sameAgain = await getOrCreate(postStore, { slug: 'hello', tenant: 1 })
  return { first, second, inTransaction, otherTenant, sameAgain }
}

async function main() {
  const database = await openDatabase(process.env.DATABASE_URL, 4)
  const tags = uniqueName('tags')
  const posts = uniqueName('posts')
  try {
    await database.exec(
      `create table ${tags} (id serial primary key, slug text not null, label text);
       create unique index on ${tags} (slug);
       create table ${posts} (id serial primary key, tenant integer not null, slug text not null, tag_id integer);
       create unique index on ${posts} (tenant, slug);`,
    )
    console.log(await examples(database.db, tags, posts))
  } finally {
    await database.exec(`drop table if exists ${tags}; drop table if exists ${posts}`)
    await database.close()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
