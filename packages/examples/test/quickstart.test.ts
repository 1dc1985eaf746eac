import { expect, test } from 'vitest'
import { openDatabase, uniqueName } from '../src/database.js'
import { examples } from '../src/quickstart.js'

for (const [label, url] of [
  ['embedded PGlite', undefined],
  ['Postgres server', process.env.DATABASE_URL],
] as const) {
  test(`the README quickstart, transaction and composite-key examples run on ${label}`, async () => {
    const database = await openDatabase(url, 4)
    const tags = uniqueName('tags')
    const posts = uniqueName('posts')
    try {
      await database.exec(
        `create table ${tags} (id serial primary key, slug text not null, label text);
         create unique index on ${tags} (slug);
         create table ${posts} (id serial primary key, tenant integer not null, slug text not null, tag_id integer);
         create unique index on ${posts} (tenant, slug);`,
      )
      const seen = await examples(database.db, tags, posts)
      expect(seen.first).toMatchObject({ created: true, row: { slug: 'news', label: 'News' } })
      expect(seen.second).toEqual({ created: false, row: seen.first.row })
      expect(seen.inTransaction).toMatchObject({
        created: true,
        post: { tenant: 1, tagId: seen.inTransaction.tag.id },
      })
      expect(seen.otherTenant.created).toBe(true)
      expect(seen.sameAgain).toEqual({ created: false, row: seen.inTransaction.post })
    } finally {
      await database.exec(`drop table if exists ${tags}; drop table if exists ${posts}`)
      await database.close()
    }
  })
}
