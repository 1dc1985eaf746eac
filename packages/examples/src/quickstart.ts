/**
 * The README's quickstart, as a script a user runs: `node --conditions=@getorcreate/source --import tsx src/quickstart.ts`
 * from packages/examples (DATABASE_URL, else embedded PGlite). It prints what it got and exits by itself: it
 * closes its database client at the end, as every script must (an open postgres.js client keeps Node
 * running). Also: inside a transaction, and a composite key.
 */
import { pathToFileURL } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { integer, pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { openDatabase, uniqueName } from './database.js'
import { createTagsTableSql, tagsTable } from './tags.js'

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
  const tags = tagsTable(tagsName, { uniqueSlug: true }) // the unique index is what makes it safe
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

/** The README's quickstart, as written there, on a postgres.js client: `client.end()` lets the process exit. */
async function readmeQuickstart(url: string, tagsName: string) {
  const client = postgres(url, { onnotice: () => {} })
  try {
    const db = drizzle(client)
    const store = drizzleStore(db, tagsTable(tagsName, { uniqueSlug: true })) // once, at start-up
    const { row, created } = await getOrCreate(store, { slug: 'news' }, { label: 'News' })
    return { row, created }
  } finally {
    await client.end() // at shutdown; without it the open connections keep the process running
  }
}

/**
 * Create the tables, run the README's quickstart and the other examples, drop the tables and close every
 * client. Returns what they saw.
 */
export async function main(url = process.env.DATABASE_URL) {
  const database = await openDatabase(url, 4)
  const readme = uniqueName('tags')
  const tags = uniqueName('tags')
  const posts = uniqueName('posts')
  try {
    await database.exec(
      `${createTagsTableSql(readme, 'unique')};
       ${createTagsTableSql(tags, 'unique')};
       create table ${posts} (id serial primary key, tenant integer not null, slug text not null, tag_id integer);
       create unique index on ${posts} (tenant, slug);`,
    )
    const quickstart = url ? await readmeQuickstart(url, readme) : undefined
    return { quickstart, ...(await examples(database.db, tags, posts)) }
  } finally {
    await database.exec(`drop table if exists ${readme}, ${tags}, ${posts}`)
    await database.close()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (seen) => console.log(seen),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
