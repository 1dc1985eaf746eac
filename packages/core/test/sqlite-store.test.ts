import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { causeChain } from '../src/cause-chain.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'

/** Every `code` along an error's cause chain. */
function codesOf(error: unknown): unknown[] {
  return causeChain(error).map((current) => (current as { code?: unknown }).code)
}

let temp: ReturnType<typeof tempDir>
let h: SqliteHarness
beforeAll(() => {
  temp = tempDir()
  h = openSqlite(join(temp.dir, 'store.db'))
})
afterAll(() => {
  h.close()
  temp.remove()
})

describe('SQLite store', () => {
  test('uniqueness from the catalog: partial and expression indexes do not count; the rowid does', async () => {
    const name = scratchName()
    h.client.exec(`create table ${name} (id integer primary key, slug text not null, title text, email text, code text unique, tag text not null);
      create unique index ${name}_slug_partial on ${name} (slug) where title is not null;
      create unique index ${name}_email_lower on ${name} (lower(email));
      create unique index ${name}_tag on ${name} (TAG)`)
    const t = sqliteTable(name, {
      id: integer('id').primaryKey(),
      slug: text('slug').notNull(),
      title: text('title'),
      email: text('email'),
      code: text('code'),
      tag: text('tag').notNull(),
    })
    const store = drizzleStore(h.db, t)
    expect(await store.uniqueness?.(['slug'])).toBe('not-enforced')
    expect(await store.uniqueness?.(['email'])).toBe('not-enforced')
    expect(await store.uniqueness?.(['code'])).toBe('nulls-distinct')
    expect(await store.uniqueness?.(['tag'])).toBe('enforced')
    expect(await store.uniqueness?.(['id'])).toBe('enforced')
    expect(await store.uniqueness?.(['slug', 'tag'])).toBe('not-enforced')
    const error = await getOrCreate(store, { slug: 'a' }, { tag: 't' }).catch((caught: unknown) => caught)
    expect(isGetOrCreateError(error) && error.code).toBe('MISSING_UNIQUE_CONSTRAINT')
    expect(h.other.prepare(`select count(*) as n from ${name}`).get()).toEqual({ n: 0 })
  })

  test('a table that does not exist is reported as such, not as a missing unique index', async () => {
    const t = sqliteTable(scratchName('missing'), {
      id: integer('id').primaryKey(),
      slug: text('slug').notNull(),
    })
    const error = await getOrCreate(drizzleStore(h.db, t), { slug: 'a' }).catch((caught: unknown) => caught)
    expect(isGetOrCreateError(error)).toBe(false)
    expect(String(error)).toMatch(/does not exist/)
  })

  test('a composite PRIMARY KEY without NOT NULL lets NULLs repeat in SQLite: nulls-distinct', async () => {
    const loose = scratchName()
    const strict = scratchName()
    h.client.exec(`create table ${loose} (a text, b text, primary key (a, b));
      create table ${strict} (a text not null, b text not null, primary key (a, b))`)
    const columns = { a: text('a'), b: text('b') }
    expect(await drizzleStore(h.db, sqliteTable(loose, columns)).uniqueness?.(['a', 'b'])).toBe(
      'nulls-distinct',
    )
    expect(await drizzleStore(h.db, sqliteTable(strict, columns)).uniqueness?.(['b', 'a'])).toBe('enforced')
    const error = await getOrCreate(drizzleStore(h.db, sqliteTable(loose, columns)), {
      a: 'x',
      b: null,
    }).catch((caught: unknown) => caught)
    expect(isGetOrCreateError(error) && error.code).toBe('INVALID_KEY')
  })

  test('typed keys (timestamp, boolean, renamed columns) find the row they created; $defaultFn runs per insert', async () => {
    const name = scratchName()
    h.client.exec(`create table ${name} (id integer primary key, created_at integer not null, is_on integer not null,
      slug_name text not null, token text not null, unique (created_at, is_on, slug_name))`)
    const t = sqliteTable(name, {
      id: integer('id').primaryKey(),
      createdAt: integer('created_at', { mode: 'timestamp' }).notNull(),
      isOn: integer('is_on', { mode: 'boolean' }).notNull(),
      slugName: text('slug_name').notNull(),
      token: text('token')
        .notNull()
        .$defaultFn(() => randomUUID()),
    })
    const store = drizzleStore(h.db, t)
    const at = new Date('2026-11-29T12:00:00Z')
    const a = await getOrCreate(store, { createdAt: at, isOn: true, slugName: 'x' })
    const b = await getOrCreate(store, { slugName: 'x', isOn: true, createdAt: new Date(at.getTime()) })
    const c = await getOrCreate(store, { createdAt: at, isOn: false, slugName: 'x' })
    expect([a.created, b.created, c.created]).toEqual([true, false, true])
    expect(b.row).toEqual(a.row)
    expect(a.row.createdAt).toEqual(at)
    expect(a.row.isOn).toBe(true)
    expect(a.row.token === c.row.token).toBe(false)
  })

  test('an explicit null is SQL NULL, as drizzle values() writes it: not the JSON text null', async () => {
    const name = scratchName()
    h.client.exec(`create table ${name} (id integer primary key, slug text not null unique, doc text)`)
    const t = sqliteTable(name, {
      id: integer('id').primaryKey(),
      slug: text('slug').notNull(),
      doc: text('doc', { mode: 'json' }).$type<{ a: number } | null>(),
    })
    const store = drizzleStore(h.db, t)
    expect((await getOrCreate(store, { slug: 'n' }, { doc: null })).row.doc).toBe(null)
    await store.insert({ slug: 'm', doc: null })
    expect((await getOrCreate(store, { slug: 'j' }, { doc: { a: 1 } })).row.doc).toEqual({ a: 1 })
    expect(h.client.prepare(`select slug, doc is null as is_null from ${name} order by id`).all()).toEqual([
      { slug: 'n', is_null: 1 },
      { slug: 'm', is_null: 1 },
      { slug: 'j', is_null: 0 },
    ])
  })

  test("a transaction whose snapshot predates another connection's write gets SerializationConflictError", async () => {
    const name = scratchName()
    h.client.exec(`create table ${name} (id integer primary key, slug text not null unique, title text)`)
    const t = sqliteTable(name, {
      id: integer('id').primaryKey(),
      slug: text('slug').notNull(),
      title: text('title'),
    })
    const store = drizzleStore(h.db, t)
    await store.uniqueness?.(['slug'])
    h.client.exec('begin')
    try {
      expect(await store.find({ slug: 'late' })).toBe(undefined) // the read that fixes this transaction's snapshot
      h.other.prepare(`insert into ${name} (slug, title) values ('late', 'other connection')`).run()
      const error = await getOrCreate(store, { slug: 'late' }, { title: 'mine' }).catch(
        (caught: unknown) => caught,
      )
      expect(isGetOrCreateError(error) && error.code).toBe('SERIALIZATION_CONFLICT')
      expect(isGetOrCreateError(error) && error.retryable).toBe(true)
      expect(codesOf(error)).toContain('SQLITE_BUSY_SNAPSHOT')
    } finally {
      h.client.exec('rollback')
    }
    const again = await getOrCreate(store, { slug: 'late' }, { title: 'mine' })
    expect([again.created, again.row.title]).toEqual([false, 'other connection'])
  })
})
