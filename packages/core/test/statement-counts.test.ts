/**
 * What a call costs, counted on real databases:
 *
 * - README ("getOrCreate"): on Postgres a lost race under the constraint strategy is three statements: the
 *   read that misses, the `INSERT … ON CONFLICT (key) DO NOTHING RETURNING` that returns no row, and the read
 *   of the winner's row. Every driver (postgres.js, node-postgres, PGlite), counted by drizzle's logger. The race
 *   is lost for sure: the call's lazy defaults (run after the miss, before the insert) write the winner's row
 *   through another connection, outside drizzle.
 * - README ("drizzleStore"): statements are prepared once per store. Counted as drizzle builds them (its
 *   session's `prepareQuery`, through which every statement drizzle sends passes, prepared or run once): after
 *   a store's first call for a key shape, hits, misses and lost races build nothing on Postgres and SQLite; a
 *   second store of the same table builds its own, as many as the first. On MySQL / MariaDB the reads by key
 *   are prepared once too, while each insert, and the locking read after a lost race, is built per call.
 */

import { getOrCreate, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createMysqlShape, type MysqlHarness, mysqlShapeTable, openMysql } from './support/mysql.js'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'
import { itemsDdl, itemsTable } from './support/tables.js'

/** Counts the statements drizzle builds on `db`: calls of its session's `prepareQuery`. */
function countBuilds(db: object): () => number {
  const { session } = db as { session: { prepareQuery: (...args: unknown[]) => unknown } }
  const prepareQuery = session.prepareQuery
  let builds = 0
  session.prepareQuery = function (this: unknown, ...args: unknown[]) {
    builds++
    return prepareQuery.apply(this, args)
  }
  return () => builds
}

/** What a sequence of calls sent (`statements`, the logger's) and built (`builds`). */
async function cost(
  statements: string[],
  builds: () => number,
  run: () => Promise<unknown>,
): Promise<{ sent: string[]; built: number }> {
  const sentBefore = statements.length
  const builtBefore = builds()
  await run()
  return { sent: statements.slice(sentBefore), built: builds() - builtBefore }
}

type Slugged = Store<
  { id: number; slug: string | null; title: string | null },
  { slug: string },
  { title?: string }
>

/**
 * The calls each test counts, after the store's first call (a miss, `first`): a hit, two misses, and a lost
 * race (`behind` writes the winner's row outside drizzle).
 */
async function laterCalls(store: Slugged, behind: (slug: string) => Promise<void>) {
  expect(await getOrCreate(store, { slug: 'first' }, { title: 'again' })).toMatchObject({ created: false })
  expect(await getOrCreate(store, { slug: 'm1' }, { title: 'mine' })).toMatchObject({ created: true })
  expect(await getOrCreate(store, { slug: 'm2' }, { title: 'mine' })).toMatchObject({ created: true })
  const lost = await getOrCreate(store, { slug: 'lost' }, async () => {
    await behind('lost')
    return { title: 'mine' }
  })
  expect(lost).toMatchObject({ created: false, row: { slug: 'lost', title: 'winner' } })
}

describe.each(PG_DRIVERS)('Postgres, %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 2)
  })
  afterAll(async () => {
    await h.close()
  })

  async function newTable() {
    const name = h.table('counts')
    await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
    const store = drizzleStore(h.db, itemsTable(name)) as unknown as Slugged
    const behind = (slug: string) => h.exec(`insert into ${name} (slug, title) values ('${slug}', 'winner')`)
    return { name, store, behind }
  }

  test('a lost race is three statements: the read, the insert that returns no row, the read of the winner', async () => {
    const { store, behind } = await newTable()
    await getOrCreate(store, { slug: 'warm' }) // the first call for the key fields reads the catalog once
    const before = h.queries.length
    const result = await getOrCreate(store, { slug: 'race' }, async () => {
      await behind('race')
      return { title: 'mine' }
    })
    expect(result).toMatchObject({ created: false, row: { slug: 'race', title: 'winner' } })
    const sent = h.queries.slice(before)
    expect(sent).toHaveLength(3)
    expect(sent[0]).toMatch(/^select .* limit \$?\d+$/i)
    expect(sent[1]).toMatch(/^insert into .* on conflict \("slug"\) do nothing returning /i)
    expect(sent[2]).toMatch(/^select .* limit \$?\d+$/i)
  })

  test('statements are prepared once per store: after its first call, hits, misses and a lost race build none', async () => {
    const builds = countBuilds(h.db)
    const { name, store, behind } = await newTable()
    const first = await cost(h.queries, builds, () =>
      getOrCreate(store, { slug: 'first' }, { title: 'mine' }),
    )
    expect(first.built).toBeGreaterThan(0) // the catalog look-ups, the find, the insert
    const later = await cost(h.queries, builds, () => laterCalls(store, behind))
    expect(later.sent).toHaveLength(1 + 2 + 2 + 3)
    expect(later.built).toBe(0)
    // Another store of the same table prepares its own statements, as many as the first did.
    const second = drizzleStore(h.db, itemsTable(name)) as unknown as Slugged
    const again = await cost(h.queries, builds, () =>
      getOrCreate(second, { slug: 'second' }, { title: 'mine' }),
    )
    expect(again.built).toBe(first.built)
  })
})

describe('SQLite (better-sqlite3)', () => {
  const dir = tempDir()
  let h: SqliteHarness
  beforeAll(() => {
    h = openSqlite(`${dir.dir}/counts.db`)
  })
  afterAll(() => {
    h.close()
    dir.remove()
  })

  test('statements are prepared once per store; a lost race is three statements here too', async () => {
    h.client.exec('create table t (id integer primary key, slug text, title text)')
    h.client.exec('create unique index t_slug on t (slug)')
    const table = sqliteTable('t', {
      id: integer('id').primaryKey(),
      slug: text('slug'),
      title: text('title'),
    })
    const builds = countBuilds(h.db)
    const store = drizzleStore(h.db, table) as unknown as Slugged
    const behind = async (slug: string) =>
      void h.other.prepare("insert into t (slug, title) values (?, 'winner')").run(slug)
    const first = await cost(h.queries, builds, () =>
      getOrCreate(store, { slug: 'first' }, { title: 'mine' }),
    )
    expect(first.built).toBeGreaterThan(0)
    const later = await cost(h.queries, builds, () => laterCalls(store, behind))
    expect(later.sent).toHaveLength(1 + 2 + 2 + 3)
    expect(later.sent.slice(-3).map((query) => query.split(' ')[0])).toEqual(['select', 'insert', 'select'])
    expect(later.built).toBe(0)
    const second = drizzleStore(h.db, table) as unknown as Slugged
    const again = await cost(h.queries, builds, () =>
      getOrCreate(second, { slug: 'second' }, { title: 'mine' }),
    )
    expect(again.built).toBe(first.built)
  })
})

describe('MariaDB (mysql2)', () => {
  let h: MysqlHarness
  beforeAll(() => {
    h = openMysql(2)
  })
  afterAll(async () => {
    await h.close()
  })

  test('the reads by key are prepared once per store; each insert, and the locking read after a lost race, is built per call', async () => {
    const name = await createMysqlShape(h, 'unique')
    const table = mysqlShapeTable(name, 'unique')
    const builds = countBuilds(h.db)
    const store = drizzleStore(h.db, table) as unknown as Slugged
    const behind = (slug: string) => h.exec(`insert into ${name} (slug, title) values (?, 'winner')`, [slug])
    const first = await cost(h.queries, builds, () =>
      getOrCreate(store, { slug: 'first' }, { title: 'mine' }),
    )
    expect(first.built).toBeGreaterThan(0)
    const hit = await cost(h.queries, builds, () => getOrCreate(store, { slug: 'first' }, { title: 'again' }))
    expect(hit).toEqual({ sent: [expect.stringMatching(/^select /)], built: 0 })
    const later = await cost(h.queries, builds, () => laterCalls(store, behind))
    // The lost race: the read, the insert its duplicate-key error refuses, the locking read of the winner.
    expect(later.sent).toHaveLength(1 + 2 + 2 + 3)
    expect(later.sent.at(-1)).toMatch(/^select .* lock in share mode$/)
    expect(later.built).toBe(0 + 1 + 1 + 2)
  })
})
