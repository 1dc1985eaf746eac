/**
 * A fresh items table (no unique index on `slug`) on each database the fence proofs run on, with a fences
 * table when asked, for the test's process: what workers open ({@link ItemsDatabase.target}), the rows
 * counted in the table itself, and the clean-up. Every name is tagged with the run (`scratchName`).
 */
import { mysqlFencesSql, pgFencesSql, sqliteFencesSql } from '@getorcreate/core/drizzle'
import { databaseUrl, mysqlUrl, scratchName } from '@getorcreate/test-support'
import mysql from 'mysql2/promise'
import type { ItemsDialect, ItemsTarget } from './items-store.js'
import { itemsFixture } from './postgres.js'
import { sqliteRunFile } from './sqlite.js'

/** An items table of one database, seen from the test's process. */
export interface ItemsDatabase {
  /** The table (and fences table) for {@link openItemsStore}, here or in a worker. */
  readonly target: ItemsTarget
  /** Rows per slug. */
  countBySlug(): Promise<Map<string, number>>
  /** Rows in all. */
  total(): Promise<number>
  /** Run one statement (a trigger's DDL) on the database. */
  exec(statement: string): Promise<void>
  /** Drop what was made (SQLite: the file's directory) and close the connection. */
  close(): Promise<void>
}

const byKey = (rows: readonly { slug: string; n: unknown }[]) =>
  new Map(rows.map((row) => [row.slug, Number(row.n)]))

async function postgresItems(dialect: ItemsDialect, fences: string | undefined): Promise<ItemsDatabase> {
  const fixture = await itemsFixture(2)
  if (fences) await fixture.sql.unsafe(pgFencesSql(fences))
  return {
    target: { dialect, url: databaseUrl(), table: fixture.name, ...(fences && { fences }) },
    countBySlug: () => fixture.countBySlug(),
    total: () => fixture.total(),
    exec: async (statement) => void (await fixture.sql.unsafe(statement)),
    close: async () => {
      if (fences) await fixture.sql.unsafe(`drop table if exists ${fences}`)
      await fixture.drop()
    },
  }
}

async function mariadbItems(fences: string | undefined): Promise<ItemsDatabase> {
  const table = scratchName('rl_my_items')
  const raw = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
  await raw.query(
    `create table ${table} (id int auto_increment primary key, slug varchar(100) not null, payload varchar(100), key (slug))`,
  )
  if (fences) await raw.query(mysqlFencesSql(fences))
  const rows = async (query: string) => (await raw.query(query))[0] as { slug: string; n: unknown }[]
  return {
    target: { dialect: 'mariadb', url: mysqlUrl(), table, ...(fences && { fences }) },
    countBySlug: async () => byKey(await rows(`select slug, count(*) as n from ${table} group by slug`)),
    total: async () => Number((await rows(`select count(*) as n from ${table}`))[0]?.n),
    exec: async (statement) => void (await raw.query(statement)),
    close: async () => {
      try {
        await raw.query(`drop table if exists ${[table, ...(fences ? [fences] : [])].join(', ')}`)
      } finally {
        await raw.end()
      }
    },
  }
}

async function sqliteItems(fences: string | undefined): Promise<ItemsDatabase> {
  const { file, open, remove } = sqliteRunFile(60_000)
  const client = open()
  const table = scratchName('rl_items')
  client.exec(
    `create table ${table} (id integer primary key, slug text not null, payload text, fence integer);
     create index ${table}_slug on ${table} (slug)`,
  )
  if (fences) client.exec(sqliteFencesSql(fences))
  const rows = (query: string) => client.prepare(query).all() as { slug: string; n: unknown }[]
  return {
    target: { dialect: 'sqlite', url: file, table, ...(fences && { fences }) },
    countBySlug: async () => byKey(rows(`select slug, count(*) as n from ${table} group by slug`)),
    total: async () => Number(rows(`select count(*) as n from ${table}`)[0]?.n),
    exec: async (statement) => void client.exec(statement),
    close: async () => {
      client.close()
      remove()
    },
  }
}

/** A fresh items table on `dialect`'s database, with a fences table when `fenced`. */
export function itemsDatabase(dialect: ItemsDialect, fenced: boolean): Promise<ItemsDatabase> {
  const fences = fenced ? scratchName('rl_fences') : undefined
  if (dialect === 'mariadb') return mariadbItems(fences)
  if (dialect === 'sqlite') return sqliteItems(fences)
  return postgresItems(dialect, fences)
}
