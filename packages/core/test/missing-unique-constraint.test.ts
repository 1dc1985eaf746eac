/**
 * MISSING_UNIQUE_CONSTRAINT says what to run: the SQL it prints is executed here, as printed, on Postgres,
 * PGlite, MariaDB and SQLite, and then the same call on the same store succeeds. Its `table` and `columns` are
 * the database's names; `fields` the key's.
 */
import {
  getOrCreate,
  isGetOrCreateError,
  MissingUniqueConstraintError,
  memoryStore,
  type Store,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import Database from 'better-sqlite3'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { int, mysqlTable, text as mysqlText, varchar } from 'drizzle-orm/mysql-core'
import { integer, pgSchema, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { integer as sqliteInteger, sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core'
import { describe, expect, test } from 'vitest'
import { mysqlUrl, openMysql } from './support/mysql.js'
import { openPg, uniqueName } from './support/pg.js'

/** The rejection of `promise`, which must be a MissingUniqueConstraintError. */
async function missing(promise: Promise<unknown>): Promise<MissingUniqueConstraintError> {
  const error = await promise.then(
    () => new Error('expected MISSING_UNIQUE_CONSTRAINT, got a row'),
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(MissingUniqueConstraintError)
  expect(isGetOrCreateError(error) && error.code).toBe('MISSING_UNIQUE_CONSTRAINT')
  return error as MissingUniqueConstraintError
}

/** The message prints the statement on a line of its own, as it is to be run. */
function expectPrinted(error: MissingUniqueConstraintError, sql: string): void {
  expect(error.sql).toBe(sql)
  expect(error.message).toContain(`Fix: add one, e.g.\n  ${sql};\n`)
  expect(error.message).toContain('redisLockStrategy')
}

describe.each(['postgres.js', 'pglite'] as const)('Postgres (%s)', (driver) => {
  test('a table in a schema, columns named apart from their properties: the SQL runs as printed', async () => {
    const h = await openPg(driver, 2)
    const schema = uniqueName('s')
    try {
      await h.exec(`create schema ${schema};
        create table ${schema}.nc_tags (id serial primary key, tenant_id integer not null, slug text not null,
          label text not null)`)
      const tags = pgSchema(schema).table('nc_tags', {
        id: serial('id').primaryKey(),
        tenantId: integer('tenant_id').notNull(),
        slug: text('slug').notNull(),
        label: text('label').notNull(),
      })
      const store = drizzleStore(h.db, tags)
      const call = () => getOrCreate(store, { tenantId: 1, slug: 'news' }, { label: 'News' })
      const error = await missing(call())
      expect(error.table).toBe(`${schema}.nc_tags`)
      expect(error.columns).toEqual(['slug', 'tenant_id'])
      expect(error.fields).toEqual(['slug', 'tenantId'])
      expect(error.store).toBe(`pg:${schema}.nc_tags`)
      expectPrinted(error, `CREATE UNIQUE INDEX ON "${schema}"."nc_tags" ("slug", "tenant_id")`)
      expect(error.message).toContain(
        `No unique index or constraint on ${schema}.nc_tags covers exactly (slug, tenant_id: the key's slug, tenantId)`,
      )
      expect((await h.rows(`select count(*)::int as n from ${schema}.nc_tags`))[0]?.n).toBe(0)

      await h.exec(error.sql as string)
      await expect(call()).resolves.toMatchObject({
        created: true,
        row: { tenantId: 1, slug: 'news', label: 'News' },
      })
      await expect(call()).resolves.toMatchObject({ created: false })
    } finally {
      await h.exec(`drop schema if exists ${schema} cascade`)
      await h.close()
    }
  })

  test('a table found through the search path, with a name that needs quoting', async () => {
    const h = await openPg(driver, 2)
    const name = `Tags_${uniqueName('q')}`
    try {
      await h.exec(`create table "${name}" (id serial primary key, "Slug" text not null)`)
      const tags = pgTable(name, { id: serial('id').primaryKey(), slug: text('Slug').notNull() })
      const store = drizzleStore(h.db, tags)
      const error = await missing(getOrCreate(store, { slug: 'a' }))
      expect(error.table).toBe(`public.${name}`)
      expect(error.columns).toEqual(['Slug'])
      expect(error.fields).toEqual(['slug'])
      expectPrinted(error, `CREATE UNIQUE INDEX ON "public"."${name}" ("Slug")`)
      await h.exec(error.sql as string)
      await expect(getOrCreate(store, { slug: 'a' })).resolves.toMatchObject({ created: true })
    } finally {
      await h.exec(`drop table if exists "${name}"`)
      await h.close()
    }
  })
})

describe('MariaDB / MySQL', () => {
  test('the SQL names the database, the table and the columns, and runs as printed', async () => {
    const h = openMysql(2)
    try {
      const name = h.table('nc_tags')
      await h.exec(`create table ${name} (id int auto_increment primary key, tenant_id int not null,
        slug varchar(100) not null, label varchar(100) not null) engine = InnoDB`)
      const tags = mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        tenantId: int('tenant_id').notNull(),
        slug: varchar('slug', { length: 100 }).notNull(),
        label: varchar('label', { length: 100 }).notNull(),
      })
      const store = drizzleStore(h.db, tags)
      const call = () => getOrCreate(store, { tenantId: 1, slug: 'news' }, { label: 'News' })
      const error = await missing(call())
      const database = decodeURIComponent(new URL(mysqlUrl()).pathname.slice(1))
      expect(error.table).toBe(`${database}.${name}`)
      expect(error.columns).toEqual(['slug', 'tenant_id'])
      expect(error.fields).toEqual(['slug', 'tenantId'])
      expect(error.store).toBe(`mysql:${name}`)
      expectPrinted(error, `ALTER TABLE \`${database}\`.\`${name}\` ADD UNIQUE (\`slug\`, \`tenant_id\`)`)
      expect((await h.rows(`select count(*) as n from ${name}`))[0]?.n).toBe(0)

      await h.exec(error.sql as string)
      await expect(call()).resolves.toMatchObject({
        created: true,
        row: { tenantId: 1, slug: 'news', label: 'News' },
      })
      await expect(call()).resolves.toMatchObject({ created: false })
    } finally {
      await h.close()
    }
  })

  test('a TEXT column: MariaDB indexes it whole, so the same statement works there', async () => {
    const h = openMysql(2)
    try {
      const name = h.table('nc_text')
      await h.exec(
        `create table ${name} (id int auto_increment primary key, slug text not null) engine = InnoDB`,
      )
      const store = drizzleStore(
        h.db,
        mysqlTable(name, { id: int('id').autoincrement().primaryKey(), slug: mysqlText('slug').notNull() }),
      )
      const error = await missing(getOrCreate(store, { slug: 'a' }))
      const [version] = await h.rows('select version() as v')
      if (/mariadb/i.test(String(version?.v))) {
        expect(error.hint).toBeUndefined()
        await h.exec(error.sql as string)
        await expect(getOrCreate(store, { slug: 'a' })).resolves.toMatchObject({ created: true })
      } else {
        expect(error.hint).toContain('make slug VARCHAR(n) first')
        expect(error.message).toContain(error.hint as string)
      }
    } finally {
      await h.close()
    }
  })
})

describe('SQLite', () => {
  test('the SQL names the index (SQLite needs one) and runs as printed', async () => {
    const client = new Database(':memory:')
    try {
      const name = uniqueName('nc_tags')
      client.exec(`create table ${name} (id integer primary key, tenant_id integer not null, slug text not null,
        label text not null)`)
      const tags = sqliteTable(name, {
        id: sqliteInteger('id').primaryKey(),
        tenantId: sqliteInteger('tenant_id').notNull(),
        slug: sqliteText('slug').notNull(),
        label: sqliteText('label').notNull(),
      })
      const store = drizzleStore(drizzleSqlite({ client }), tags)
      const call = () => getOrCreate(store, { tenantId: 1, slug: 'news' }, { label: 'News' })
      const error = await missing(call())
      expect(error.table).toBe(name)
      expect(error.columns).toEqual(['slug', 'tenant_id'])
      expect(error.fields).toEqual(['slug', 'tenantId'])
      expect(error.store).toBe(`sqlite:${name}`)
      expectPrinted(
        error,
        `CREATE UNIQUE INDEX "${name}_slug_tenant_id_key" ON "${name}" ("slug", "tenant_id")`,
      )

      client.exec(error.sql as string)
      await expect(call()).resolves.toMatchObject({
        created: true,
        row: { tenantId: 1, slug: 'news', label: 'News' },
      })
      await expect(call()).resolves.toMatchObject({ created: false })
    } finally {
      client.close()
    }
  })

  test('an index of that name exists already (not unique): the SQL picks a free name', async () => {
    const client = new Database(':memory:')
    try {
      const name = uniqueName('taken')
      client.exec(`create table ${name} (id integer primary key, slug text not null);
        create index ${name}_slug_key on ${name} (slug)`)
      const store = drizzleStore(
        drizzleSqlite({ client }),
        sqliteTable(name, { id: sqliteInteger('id').primaryKey(), slug: sqliteText('slug').notNull() }),
      )
      const error = await missing(getOrCreate(store, { slug: 'a' }))
      expectPrinted(error, `CREATE UNIQUE INDEX "${name}_slug_key1" ON "${name}" ("slug")`)
      client.exec(error.sql as string)
      await expect(getOrCreate(store, { slug: 'a' })).resolves.toMatchObject({ created: true })
    } finally {
      client.close()
    }
  })
})

describe('stores that are not SQL', () => {
  test('memoryStore without uniqueBy: the message says to pass uniqueBy, and that works', async () => {
    const store = memoryStore<{ id: number; tenant: number; slug: string }>({ name: 'tags' })
    const error = await missing(getOrCreate(store, { tenant: 1, slug: 'a' }))
    expect(error).toMatchObject({ table: 'tags', columns: ['slug', 'tenant'], fields: ['slug', 'tenant'] })
    expect(error.sql).toBeUndefined()
    expect(error.hint).toBe(
      "create the store with memoryStore({ uniqueBy: [['slug', 'tenant']] }) so that it enforces that set",
    )
    expect(error.message).toContain(`Fix: ${error.hint}; or,`)
    const fixed = memoryStore<{ id: number; tenant: number; slug: string }>({
      name: 'tags',
      uniqueBy: [['slug', 'tenant']],
    })
    await expect(getOrCreate(fixed, { tenant: 1, slug: 'a' })).resolves.toMatchObject({ created: true })
  })

  test('memoryStore with uniqueBy on other fields: the message says which set to add', async () => {
    const store = memoryStore<{ id: number; tenant: number; slug: string }>({ uniqueBy: [['slug']] })
    const error = await missing(getOrCreate(store, { tenant: 1, slug: 'a' }))
    expect(error.hint).toBe(
      "add ['slug', 'tenant'] to memoryStore's uniqueBy option so that it enforces that set",
    )
  })

  test('a custom store without uniqueIndexFix: the store name and the key fields, as before', async () => {
    type Row = { id: number; slug: string }
    const base = memoryStore<Row>({ uniqueBy: [['id']] })
    const custom: Store<Row> = {
      name: 'custom:tags',
      find: (key) => base.find(key),
      insert: (values) => base.insert(values),
      insertIfAbsent: (key, values) => base.insertUnlessFound(key, values),
      uniqueness: async () => 'not-enforced',
    }
    const error = await missing(getOrCreate(custom, { slug: 'a' }))
    expect(error).toMatchObject({
      table: 'custom:tags',
      columns: ['slug'],
      fields: ['slug'],
      store: 'custom:tags',
    })
    expect(error.sql).toBeUndefined()
    expect(error.message).toContain('No unique index or constraint on custom:tags covers exactly (slug)')
    expect(error.message).toContain('Fix: add a unique index or constraint on exactly these columns')

    // One whose uniqueIndexFix fails: the error is still about the missing index.
    const failing: Store<Row> = {
      ...custom,
      uniqueIndexFix: async () => {
        throw new Error('catalog unreachable')
      },
    }
    expect(await missing(getOrCreate(failing, { slug: 'a' }))).toMatchObject({ table: 'custom:tags' })

    // And one without insertIfAbsent: an index alone would not help, so the hint says what the store lacks.
    const { insertIfAbsent: _dropped, ...noAtomicInsert } = custom
    const lacking = await missing(getOrCreate(noAtomicInsert, { slug: 'a' }))
    expect(lacking.sql).toBeUndefined()
    expect(lacking.hint).toContain('give store custom:tags an insertIfAbsent')
    expect((lacking.cause as Error).message).toContain('has no insertIfAbsent')
  })

  test('the constructor as custom strategies call it: (table, columns, options?)', () => {
    const error = new MissingUniqueConstraintError('public.items', ['slug'])
    expect(error).toMatchObject({
      code: 'MISSING_UNIQUE_CONSTRAINT',
      table: 'public.items',
      columns: ['slug'],
      fields: ['slug'],
      store: 'public.items',
      sql: undefined,
      hint: undefined,
    })
  })
})
