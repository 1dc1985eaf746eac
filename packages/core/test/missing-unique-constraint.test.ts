/**
 * MISSING_UNIQUE_CONSTRAINT says what to run: the SQL it prints is executed here, as printed, on Postgres,
 * PGlite, MariaDB and SQLite, and then the same call on the same store succeeds, once the window in which the
 * strategy remembers the missing index (MISSING_INDEX_RECHECK_MS) has passed: the tests move the strategy's
 * clock instead of waiting, but for one, which waits on the real clock. Its `table` and `columns` are the
 * database's names; `fields` the key's. The catalog queries each call costs are counted from the drivers'
 * query logs.
 */
import {
  getOrCreate,
  isGetOrCreateError,
  MissingUniqueConstraintError,
  memoryStore,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { mysqlUrl, scratchName } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { int, mysqlTable, text as mysqlText, varchar } from 'drizzle-orm/mysql-core'
import { integer, pgSchema, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { integer as sqliteInteger, sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core'
import { describe, expect, test } from 'vitest'
import { createConstraintStrategy, MISSING_INDEX_RECHECK_MS } from '../src/constraint-strategy.js'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { pgUniqueIndexFix } from '../src/drizzle/pg/pg-unique-index-fix.js'
import { sqliteIndexName } from '../src/drizzle/sqlite/sqlite-unique-index-fix.js'
import { openMysql } from './support/mysql.js'
import { openPg, PG_DRIVERS } from './support/pg.js'

/**
 * A constraint strategy on a clock of the test's own: `pass()` moves it past the window in which a missing
 * index is remembered, so a test sees the call after the SQL succeed without waiting a second.
 */
function clocked(): { strategy: Strategy; pass(): void } {
  let now = 0
  return {
    strategy: createConstraintStrategy({}, { now: () => now }),
    pass: () => {
      now += MISSING_INDEX_RECHECK_MS
    },
  }
}

/** How many of the statements logged from `from` on match `pattern` (catalog queries, by their tables). */
function countSince(queries: readonly string[], from: number, pattern: RegExp): number {
  return queries.slice(from).filter((query) => pattern.test(query)).length
}

/** Postgres's catalog queries: the uniqueness check (pg_index) and the fix's look-up (pg_class). */
const PG_CATALOG = /\bpg_index\b|\bpg_class\b/
/** MariaDB / MySQL's: the kept catalog (STATISTICS, with the server's version) and the fix's (COLUMNS). */
const MYSQL_CATALOG = /information_schema\.(STATISTICS|COLUMNS)/i
/** SQLite's: the pragmas of the uniqueness check and of the fix, and the index names in sqlite_master. */
const SQLITE_CATALOG = /pragma_|sqlite_master/

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

describe.each(PG_DRIVERS)('Postgres (%s)', (driver) => {
  test('a table in a schema, columns named apart from their properties: the SQL runs as printed', async () => {
    const h = await openPg(driver, 2)
    const schema = scratchName('s')
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
      const { strategy, pass } = clocked()
      const call = () => getOrCreate(store, { tenantId: 1, slug: 'news' }, { label: 'News' }, strategy)
      const first = h.queries.length
      const error = await missing(call())
      expect(countSince(h.queries, first, PG_CATALOG)).toBe(2) // the uniqueness check, the fix's look-up
      expect(error.table).toBe(`${schema}.nc_tags`)
      expect(error.columns).toEqual(['slug', 'tenant_id'])
      expect(error.fields).toEqual(['slug', 'tenantId'])
      expect(error.store).toBe(`pg:${schema}.nc_tags`)
      expectPrinted(error, `CREATE UNIQUE INDEX ON "${schema}"."nc_tags" ("slug", "tenant_id")`)
      expect(error.message).toContain(
        `No unique index or constraint on ${schema}.nc_tags covers exactly (slug, tenant_id: the key's slug, tenantId)`,
      )
      expect((await h.rows(`select count(*)::int as n from ${schema}.nc_tags`))[0]?.n).toBe(0)

      // A hot caller within the window: the same error each time, and no round trip at all (before the
      // window, each call read the catalog twice: 40 queries here).
      const hot = h.queries.length
      for (let i = 0; i < 20; i++) expect((await missing(call())).sql).toBe(error.sql)
      expect(h.queries.length).toBe(hot)

      await h.exec(error.sql as string)
      expect((await missing(call())).sql).toBe(error.sql) // still within the window: from memory
      expect(h.queries.length).toBe(hot)
      pass()
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
    const name = `Tags_${scratchName('q')}`
    try {
      await h.exec(`create table "${name}" (id serial primary key, "Slug" text not null)`)
      const tags = pgTable(name, { id: serial('id').primaryKey(), slug: text('Slug').notNull() })
      const store = drizzleStore(h.db, tags)
      const { strategy, pass } = clocked()
      const error = await missing(getOrCreate(store, { slug: 'a' }, {}, strategy))
      expect(error.table).toBe(`public.${name}`)
      expect(error.columns).toEqual(['Slug'])
      expect(error.fields).toEqual(['slug'])
      expectPrinted(error, `CREATE UNIQUE INDEX ON "public"."${name}" ("Slug")`)
      await h.exec(error.sql as string)
      pass()
      await expect(getOrCreate(store, { slug: 'a' }, {}, strategy)).resolves.toMatchObject({ created: true })
    } finally {
      await h.exec(`drop table if exists "${name}"`)
      await h.close()
    }
  })

  test('a nullable key column: NULLS NOT DISTINCT, so a key with a NULL in it is one row once the SQL ran', async () => {
    const h = await openPg(driver, 2)
    try {
      const name = h.table('nc_null')
      await h.exec(`create table ${name} (id serial primary key, tenant integer, slug text not null)`)
      const store = drizzleStore(
        h.db,
        pgTable(name, {
          id: serial('id').primaryKey(),
          tenant: integer('tenant'),
          slug: text('slug').notNull(),
        }),
      )
      const { strategy, pass } = clocked()
      const call = () => getOrCreate(store, { tenant: null, slug: 'a' }, {}, strategy)
      const error = await missing(call())
      // Without NULLS NOT DISTINCT the index treats NULLs as distinct, and the next call was INVALID_KEY.
      expectPrinted(error, `CREATE UNIQUE INDEX ON "public"."${name}" ("slug", "tenant") NULLS NOT DISTINCT`)
      expect(error.hint).toBeUndefined()
      await h.exec(error.sql as string)
      pass()
      await expect(call()).resolves.toMatchObject({ created: true, row: { tenant: null, slug: 'a' } })
      await expect(call()).resolves.toMatchObject({ created: false, row: { tenant: null, slug: 'a' } })
      expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(1)
    } finally {
      await h.close()
    }
  })

  test('a partitioned table: SQL only for a key that includes the partition key; else the lock strategy', async () => {
    const h = await openPg(driver, 2)
    try {
      const name = h.table('nc_part')
      // The partition goes with its parent, which h.close() drops.
      await h.exec(`create table ${name} (id integer not null, k integer not null, slug text not null)
          partition by list (k);
        create table ${name}_p1 partition of ${name} for values in (1)`)
      const store = drizzleStore(
        h.db,
        pgTable(name, {
          id: integer('id').notNull(),
          k: integer('k').notNull(),
          slug: text('slug').notNull(),
        }),
      )
      const { strategy, pass } = clocked()

      // The key lacks the partition key: no unique index can be added for it, so no SQL.
      const lacking = await missing(getOrCreate(store, { slug: 'a' }, { id: 1, k: 1 }, strategy))
      expect(lacking.sql).toBeUndefined()
      expect(lacking.hint).toContain(`public.${name} is partitioned by (k)`)
      expect(lacking.hint).toContain('must include the whole partition key')
      expect(lacking.hint).toContain('redisLockStrategy')
      expect(lacking.message).toContain(`Fix: ${lacking.hint}.`)
      expect(lacking.message).not.toContain('e.g.\n')
      expect(lacking.message).not.toContain('or, where the database cannot enforce it')

      // The key includes it: the index can be added, and the SQL runs as printed.
      const call = () => getOrCreate(store, { k: 1, slug: 'a' }, { id: 1 }, strategy)
      const error = await missing(call())
      expectPrinted(error, `CREATE UNIQUE INDEX ON "public"."${name}" ("k", "slug")`)
      await h.exec(error.sql as string)
      pass()
      await expect(call()).resolves.toMatchObject({ created: true, row: { id: 1, k: 1, slug: 'a' } })
      await expect(call()).resolves.toMatchObject({ created: false })
    } finally {
      await h.close()
    }
  })
})

describe('Postgres: what the SQL depends on (the server version, the partition key)', () => {
  const facts = {
    schema: 'public',
    table: 'tags',
    serverVersion: 150000,
    relkind: 'r',
    nullable: ['tenant'],
    partitionKey: [],
  }

  test('15+: NULLS NOT DISTINCT where a key column is nullable, and only there', () => {
    expect(pgUniqueIndexFix(facts, ['slug', 'tenant'])).toEqual({
      table: 'public.tags',
      columns: ['slug', 'tenant'],
      sql: 'CREATE UNIQUE INDEX ON "public"."tags" ("slug", "tenant") NULLS NOT DISTINCT',
    })
    expect(pgUniqueIndexFix(facts, ['slug']).sql).toBe('CREATE UNIQUE INDEX ON "public"."tags" ("slug")')
  })

  test('before 15 (no NULLS NOT DISTINCT): the hint says to make the nullable column NOT NULL', () => {
    const fix = pgUniqueIndexFix({ ...facts, serverVersion: 140011 }, ['slug', 'tenant'])
    expect(fix.sql).toBe('CREATE UNIQUE INDEX ON "public"."tags" ("slug", "tenant")')
    expect(fix.hint).toContain('tenant may hold NULL, and before Postgres 15 a unique index treats NULLs as')
    expect(fix.hint).toContain('make tenant NOT NULL')
    const error = new MissingUniqueConstraintError(fix.table, fix.columns, fix)
    expect(error.message).toContain(`${fix.sql};\n${fix.hint}\nor, `)
  })

  test('partitioned by an expression: no unique index can include it, so no SQL for any key', () => {
    const fix = pgUniqueIndexFix({ ...facts, relkind: 'p', partitionKey: ['', 'k'] }, ['k', 'slug'])
    expect(fix.sql).toBeUndefined()
    expect(fix.hint).toContain('partitioned by ((an expression), k)')
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
      const { strategy, pass } = clocked()
      const call = () => getOrCreate(store, { tenantId: 1, slug: 'news' }, { label: 'News' }, strategy)
      const first = h.queries.length
      const error = await missing(call())
      expect(countSince(h.queries, first, MYSQL_CATALOG)).toBe(2) // the catalog, the columns' nullability
      expect(error.hint).toBeUndefined() // both columns NOT NULL
      const database = decodeURIComponent(new URL(mysqlUrl()).pathname.slice(1))
      expect(error.table).toBe(`${database}.${name}`)
      expect(error.columns).toEqual(['slug', 'tenant_id'])
      expect(error.fields).toEqual(['slug', 'tenantId'])
      expect(error.store).toBe(`mysql:${name}`)
      expectPrinted(error, `ALTER TABLE \`${database}\`.\`${name}\` ADD UNIQUE (\`slug\`, \`tenant_id\`)`)
      expect((await h.rows(`select count(*) as n from ${name}`))[0]?.n).toBe(0)

      // A hot caller within the window: no round trip (before the window: two catalog reads a call).
      const hot = h.queries.length
      for (let i = 0; i < 20; i++) expect((await missing(call())).sql).toBe(error.sql)
      expect(h.queries.length).toBe(hot)

      await h.exec(error.sql as string)
      expect((await missing(call())).sql).toBe(error.sql) // still within the window: from memory
      expect(h.queries.length).toBe(hot)
      pass()
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
      const { strategy, pass } = clocked()
      const error = await missing(getOrCreate(store, { slug: 'a' }, {}, strategy))
      const [version] = await h.rows('select version() as v')
      if (/mariadb/i.test(String(version?.v))) {
        expect(error.hint).toBeUndefined()
        await h.exec(error.sql as string)
        pass()
        await expect(getOrCreate(store, { slug: 'a' }, {}, strategy)).resolves.toMatchObject({
          created: true,
        })
      } else {
        expect(error.hint).toContain('make slug VARCHAR(n) first')
        expect(error.message).toContain(error.hint as string)
      }
    } finally {
      await h.close()
    }
  })

  // The paths of the healthy key: drizzleStore's (INSERT … RETURNING, MariaDB 10.5+), and MySQL's (an
  // INSERT, then a shared locking read by insertId), which both read the kept catalog for the server's SQL.
  test.each([
    ['INSERT … RETURNING', undefined],
    ['an INSERT, then a locking read', '10.4.32-MariaDB'],
  ])('a failing key beside a healthy one (%s): the healthy key reads no catalog', async (_path, version) => {
    const h = openMysql(2)
    try {
      const name = h.table('nc_mixed')
      await h.exec(`create table ${name} (id int auto_increment primary key, slug varchar(100) not null,
        label varchar(100) not null, unique key slug_unique (slug)) engine = InnoDB`)
      const table = mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        slug: varchar('slug', { length: 100 }).notNull(),
        label: varchar('label', { length: 100 }).notNull(),
      })
      const store =
        version === undefined ? drizzleStore(h.db, table) : createMySqlStore(h.db, table, { version })
      const { strategy, pass } = clocked()
      const failing: number[] = []
      const healthy: number[] = []
      for (let i = 0; i < 4; i++) {
        pass() // each failing call checks the catalog again, as it would once a second apart
        let from = h.queries.length
        await missing(getOrCreate(store, { label: 'B' }, { slug: `b${i}` }, strategy))
        failing.push(countSince(h.queries, from, MYSQL_CATALOG))
        from = h.queries.length
        await expect(getOrCreate(store, { slug: `a${i}` }, { label: 'A' }, strategy)).resolves.toMatchObject({
          created: true,
          row: { slug: `a${i}`, label: 'A' },
        })
        healthy.push(countSince(h.queries, from, MYSQL_CATALOG))
      }
      // Before, each failing call dropped the catalog every path shares, and each new {slug} paid to read it
      // again: 1 read for the first miss of {slug}, 2 for each later one.
      expect(healthy).toEqual([0, 0, 0, 0])
      // The failing check: the catalog read again (the first time: read at all), and the columns' nullability.
      expect(failing).toEqual([2, 2, 2, 2])
    } finally {
      await h.close()
    }
  })

  test('a nullable key column: the hint says it must be NOT NULL for a NULL key to be one row', async () => {
    const h = openMysql(2)
    try {
      const name = h.table('nc_null')
      await h.exec(`create table ${name} (id int auto_increment primary key, tenant int null,
        slug varchar(100) not null) engine = InnoDB`)
      const store = drizzleStore(
        h.db,
        mysqlTable(name, {
          id: int('id').autoincrement().primaryKey(),
          tenant: int('tenant'),
          slug: varchar('slug', { length: 100 }).notNull(),
        }),
      )
      const { strategy, pass } = clocked()
      const error = await missing(getOrCreate(store, { tenant: null, slug: 'a' }, {}, strategy))
      const database = decodeURIComponent(new URL(mysqlUrl()).pathname.slice(1))
      expectPrinted(error, `ALTER TABLE \`${database}\`.\`${name}\` ADD UNIQUE (\`slug\`, \`tenant\`)`)
      expect(error.hint).toMatch(
        /^tenant may hold NULL, and (MariaDB|MySQL)'s unique indexes treat NULLs as distinct/,
      )
      expect(error.hint).toContain('make tenant NOT NULL')
      expect(error.message).toContain(`${error.sql};\n${error.hint}\nor, `)

      // As the hint says: with the index, a key without a NULL is one row; one with a NULL is refused.
      await h.exec(error.sql as string)
      pass()
      await expect(getOrCreate(store, { tenant: 1, slug: 'a' }, {}, strategy)).resolves.toMatchObject({
        created: true,
      })
      await expect(getOrCreate(store, { tenant: null, slug: 'a' }, {}, strategy)).rejects.toMatchObject({
        code: 'INVALID_KEY',
      })
    } finally {
      await h.close()
    }
  })
})

describe('SQLite', () => {
  test('the SQL names the index (SQLite needs one) and runs as printed', async () => {
    const client = new Database(':memory:')
    try {
      const name = scratchName('nc_tags')
      client.exec(`create table ${name} (id integer primary key, tenant_id integer not null, slug text not null,
        label text not null)`)
      const tags = sqliteTable(name, {
        id: sqliteInteger('id').primaryKey(),
        tenantId: sqliteInteger('tenant_id').notNull(),
        slug: sqliteText('slug').notNull(),
        label: sqliteText('label').notNull(),
      })
      const queries: string[] = []
      const db = drizzleSqlite({ client, logger: { logQuery: (query) => void queries.push(query) } })
      const store = drizzleStore(db, tags)
      const { strategy, pass } = clocked()
      const call = () => getOrCreate(store, { tenantId: 1, slug: 'news' }, { label: 'News' }, strategy)
      const error = await missing(call())
      // The uniqueness check's three pragmas; the fix's index names and table_info.
      expect(countSince(queries, 0, SQLITE_CATALOG)).toBe(5)
      expect(error.table).toBe(name)
      expect(error.columns).toEqual(['slug', 'tenant_id'])
      expect(error.fields).toEqual(['slug', 'tenantId'])
      expect(error.store).toBe(`sqlite:${name}`)
      expect(error.hint).toBeUndefined() // both columns NOT NULL
      const indexName = sqliteIndexName(name, ['slug', 'tenant_id'])
      expect(indexName).toMatch(new RegExp(`^${name}_slug_tenant_id_[0-9a-f]{8}_key$`))
      expectPrinted(error, `CREATE UNIQUE INDEX "${indexName}" ON "${name}" ("slug", "tenant_id")`)

      // A hot caller within the window: no statement at all (before the window: five a call).
      const hot = queries.length
      for (let i = 0; i < 20; i++) expect((await missing(call())).sql).toBe(error.sql)
      expect(queries.length).toBe(hot)

      client.exec(error.sql as string)
      expect((await missing(call())).sql).toBe(error.sql) // still within the window: from memory
      expect(queries.length).toBe(hot)
      pass()
      await expect(call()).resolves.toMatchObject({
        created: true,
        row: { tenantId: 1, slug: 'news', label: 'News' },
      })
      await expect(call()).resolves.toMatchObject({ created: false })
    } finally {
      client.close()
    }
  })

  // SQLite folds A–Z only when it compares names: a name with Ä must still be seen as taken.
  test.each([
    ['a plain name', (name: string) => name],
    ['a name with a letter SQLite does not fold (Ä)', (name: string) => `Äb_${name}`],
  ])('an index of that name exists already (not unique), %s: the SQL picks a free name', async (_, named) => {
    const client = new Database(':memory:')
    try {
      const name = named(scratchName('taken'))
      const indexName = sqliteIndexName(name, ['slug'])
      client.exec(`create table "${name}" (id integer primary key, slug text not null);
        create index "${indexName}" on "${name}" (slug)`)
      const store = drizzleStore(
        drizzleSqlite({ client }),
        sqliteTable(name, { id: sqliteInteger('id').primaryKey(), slug: sqliteText('slug').notNull() }),
      )
      const { strategy, pass } = clocked()
      const error = await missing(getOrCreate(store, { slug: 'a' }, {}, strategy))
      expectPrinted(error, `CREATE UNIQUE INDEX "${indexName}1" ON "${name}" ("slug")`)
      client.exec(error.sql as string)
      pass()
      await expect(getOrCreate(store, { slug: 'a' }, {}, strategy)).resolves.toMatchObject({ created: true })
    } finally {
      client.close()
    }
  })

  test('tables whose names and columns join alike, a_b (c) and a (b_c): two names, both statements run', async () => {
    const client = new Database(':memory:')
    try {
      const prefix = scratchName('c')
      client.exec(`create table ${prefix}_a_b (id integer primary key, c text not null);
        create table ${prefix}_a (id integer primary key, b_c text not null)`)
      const db = drizzleSqlite({ client })
      const ab = drizzleStore(
        db,
        sqliteTable(`${prefix}_a_b`, { id: sqliteInteger('id').primaryKey(), c: sqliteText('c').notNull() }),
      )
      const a = drizzleStore(
        db,
        sqliteTable(`${prefix}_a`, { id: sqliteInteger('id').primaryKey(), bC: sqliteText('b_c').notNull() }),
      )
      const { strategy, pass } = clocked()
      const first = await missing(getOrCreate(ab, { c: 'x' }, {}, strategy))
      const second = await missing(getOrCreate(a, { bC: 'x' }, {}, strategy))
      // A migration runs both. Both were `CREATE UNIQUE INDEX "<prefix>_a_b_c_key"`, and the second failed:
      // index already exists.
      client.exec(`${first.sql};\n${second.sql};`)
      const indexOf = (sql: string | undefined) => /^CREATE UNIQUE INDEX "([^"]+)"/.exec(sql ?? '')?.[1]
      expect(indexOf(first.sql)).toMatch(new RegExp(`^${prefix}_a_b_c_[0-9a-f]{8}_key$`))
      expect(indexOf(second.sql)).toMatch(new RegExp(`^${prefix}_a_b_c_[0-9a-f]{8}_key$`))
      expect(indexOf(first.sql)).not.toBe(indexOf(second.sql))
      pass()
      await expect(getOrCreate(ab, { c: 'x' }, {}, strategy)).resolves.toMatchObject({ created: true })
      await expect(getOrCreate(a, { bC: 'x' }, {}, strategy)).resolves.toMatchObject({ created: true })
      // The name is stable: the same table and columns give the same one, whatever the case.
      expect(sqliteIndexName(`${prefix}_a_b`, ['c'])).toBe(indexOf(first.sql))
      expect(sqliteIndexName(`${prefix}_A_B`.toUpperCase(), ['C']).toLowerCase()).toBe(
        indexOf(first.sql)?.toLowerCase(),
      )
    } finally {
      client.close()
    }
  })

  test('a nullable key column: the hint says it must be NOT NULL for a NULL key to be one row', async () => {
    const client = new Database(':memory:')
    try {
      const name = scratchName('nc_null')
      client.exec(`create table ${name} (id integer primary key, tenant integer, slug text not null)`)
      const store = drizzleStore(
        drizzleSqlite({ client }),
        sqliteTable(name, {
          id: sqliteInteger('id').primaryKey(),
          tenant: sqliteInteger('tenant'),
          slug: sqliteText('slug').notNull(),
        }),
      )
      const { strategy, pass } = clocked()
      const error = await missing(getOrCreate(store, { tenant: null, slug: 'a' }, {}, strategy))
      expect(error.sql).toBe(
        `CREATE UNIQUE INDEX "${sqliteIndexName(name, ['slug', 'tenant'])}" ON "${name}" ("slug", "tenant")`,
      )
      expect(error.hint).toMatch(/^tenant may hold NULL, and SQLite's unique indexes treat NULLs as distinct/)
      expect(error.hint).toContain('tenant must be NOT NULL')
      expect(error.message).toContain(`${error.sql};\n${error.hint}\nor, `)
      // The INTEGER PRIMARY KEY is the rowid, never NULL: no hint about it.
      const withId = await missing(getOrCreate(store, { id: 1, slug: 'a' }, {}, strategy))
      expect(withId.hint).toBeUndefined()

      client.exec(error.sql as string)
      pass()
      await expect(getOrCreate(store, { tenant: 1, slug: 'a' }, {}, strategy)).resolves.toMatchObject({
        created: true,
      })
      await expect(getOrCreate(store, { tenant: null, slug: 'a' }, {}, strategy)).rejects.toMatchObject({
        code: 'INVALID_KEY',
      })
    } finally {
      client.close()
    }
  })

  test('the default strategy on the real clock: the call after the SQL works once the window has passed', async () => {
    const client = new Database(':memory:')
    try {
      const name = scratchName('nc_clock')
      client.exec(`create table ${name} (id integer primary key, slug text not null)`)
      const store = drizzleStore(
        drizzleSqlite({ client }),
        sqliteTable(name, { id: sqliteInteger('id').primaryKey(), slug: sqliteText('slug').notNull() }),
      )
      const asked = performance.now()
      const error = await missing(getOrCreate(store, { slug: 'a' }))
      const answered = performance.now()
      client.exec(error.sql as string)
      // Within the window (it began after `asked`): remembered.
      const again = await getOrCreate(store, { slug: 'a' }).catch((caught: unknown) => caught)
      if (performance.now() < asked + MISSING_INDEX_RECHECK_MS) {
        expect(again).toBeInstanceOf(MissingUniqueConstraintError)
      }
      // Once it has passed (it began before `answered`): the index is found. No longer a wait than that.
      const wait = answered + MISSING_INDEX_RECHECK_MS - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)))
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
      insertIfAbsentAtomically: (key, values) => base.insertIfAbsentUnderLock(key, values),
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

    // And one without insertIfAbsentAtomically: an index alone would not help, so the hint says what the store lacks.
    const { insertIfAbsentAtomically: _dropped, ...noAtomicInsert } = custom
    const lacking = await missing(getOrCreate(noAtomicInsert, { slug: 'a' }))
    expect(lacking.sql).toBeUndefined()
    expect(lacking.hint).toContain('give store custom:tags an insertIfAbsentAtomically')
    expect((lacking.cause as Error).message).toContain('has no insertIfAbsentAtomically')
  })

  test('a missing index is remembered for the window: one look-up however many calls, then asked again', async () => {
    type Row = { id: number; slug: string }
    const base = memoryStore<Row>({ uniqueBy: [['id']] })
    let asked = 0
    let described = 0
    const store: Store<Row> = {
      name: 'counted:tags',
      find: (key) => base.find(key),
      insert: (values) => base.insert(values),
      insertIfAbsentAtomically: (key, values) => base.insertIfAbsentUnderLock(key, values),
      uniqueness: async () => {
        asked++
        return 'not-enforced'
      },
      uniqueIndexFix: async (fields) => {
        described++
        return { table: 'tags', columns: [...fields], sql: 'CREATE UNIQUE INDEX ON tags (slug)' }
      },
    }
    const { strategy, pass } = clocked()
    const call = () => getOrCreate(store, { slug: 'a' }, {}, strategy)
    // Concurrent and one after another: one question, one description (before: one each per call).
    const errors = await Promise.all(Array.from({ length: 10 }, () => missing(call())))
    for (let i = 0; i < 10; i++) errors.push(await missing(call()))
    expect({ asked, described }).toEqual({ asked: 1, described: 1 })
    // The 10 concurrent calls share one operation (single flight), so one error; each later call gets its own.
    expect(new Set(errors).size).toBe(11)
    expect(errors.every((error) => error.sql === 'CREATE UNIQUE INDEX ON tags (slug)')).toBe(true)
    pass()
    await missing(call())
    expect({ asked, described }).toEqual({ asked: 2, described: 2 })
    expect(MISSING_INDEX_RECHECK_MS).toBe(1000)
  })

  test('a store without insertIfAbsentAtomically: its names are looked up once, not on every call', async () => {
    type Row = { id: number; slug: string }
    const base = memoryStore<Row>({ uniqueBy: [['id']] })
    let described = 0
    const store: Store<Row> = {
      name: 'no-atomic:tags',
      find: (key) => base.find(key),
      insert: (values) => base.insert(values),
      uniqueIndexFix: async (fields) => {
        described++
        return { table: 'tags', columns: [...fields] }
      },
    }
    const strategy = createConstraintStrategy()
    const errors = await Promise.all(
      Array.from({ length: 10 }, () => missing(getOrCreate(store, { slug: 'a' }, {}, strategy))),
    )
    for (let i = 0; i < 10; i++) errors.push(await missing(getOrCreate(store, { slug: 'a' }, {}, strategy)))
    expect(described).toBe(1)
    expect(
      errors.every((error) => error.hint?.includes('give store no-atomic:tags an insertIfAbsentAtomically')),
    ).toBe(true)
    await missing(getOrCreate(store, { id: 1 }, { slug: 'b' }, strategy))
    expect(described).toBe(2) // another key shape is another look-up
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
