/**
 * README ("drizzleStore"): under drizzle's `withReplicas` a store's reads go to the primary, and drizzle's query
 * cache, if configured, never answers a find; here on MariaDB (mysql2) and SQLite (better-sqlite3), as
 * `replicas-cache.test.ts` proves it on Postgres. Real databases:
 *
 * - the replica is a database that can be told apart: on MariaDB another schema, on SQLite another file, each
 *   with a table of the same name holding a decoy row; drizzle's own builder select reads it (the control);
 * - the cache caches (strategy `'all'`), as a builder select shows; a row deleted behind drizzle's back is not
 *   found by the store, which creates it again, and the cache is never asked for a find.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { mysqlUrl, scratchName } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { eq } from 'drizzle-orm'
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3'
import { int, withReplicas as mysqlReplicas, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { integer, withReplicas as sqliteReplicas, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { MapCache } from './support/map-cache.js'
import { tempDir } from './support/sqlite.js'

describe('MariaDB (mysql2)', () => {
  const replicaSchema = scratchName('replica')
  let primaryPool: mysql.Pool
  let replicaPool: mysql.Pool
  const tables: string[] = []
  const replicaSent: string[] = []

  beforeAll(async () => {
    primaryPool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 4 })
    await primaryPool.query(`create database ${replicaSchema}`)
    const url = new URL(mysqlUrl())
    url.pathname = `/${replicaSchema}`
    replicaPool = mysql.createPool({ uri: url.toString(), connectionLimit: 2 })
  })
  afterAll(async () => {
    try {
      if (tables.length > 0) await primaryPool.query(`drop table if exists ${tables.join(', ')}`)
      await primaryPool.query(`drop database if exists ${replicaSchema}`)
    } finally {
      await primaryPool.end()
      await replicaPool.end()
    }
  })

  const ddl = (name: string) =>
    `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, title varchar(64) not null)`
  const tagsTable = (name: string) =>
    mysqlTable(name, {
      id: int('id').autoincrement().primaryKey(),
      slug: varchar('slug', { length: 64 }).notNull(),
      title: varchar('title', { length: 64 }).notNull(),
    })

  async function newTable() {
    const name = scratchName('replicas')
    tables.push(name)
    await primaryPool.query(ddl(name))
    await replicaPool.query(ddl(name))
    await replicaPool.query(`insert into ${name} (slug, title) values ('k', 'replica decoy')`)
    return { name, table: tagsTable(name) }
  }

  test('withReplicas: find and getOrCreate read the primary; the replica is sent nothing', async () => {
    const { name, table } = await newTable()
    const replica = drizzleMysql(replicaPool, {
      logger: { logQuery: (query) => void replicaSent.push(query) },
    })
    const db = mysqlReplicas(drizzleMysql(primaryPool), [replica])
    // Control: drizzle's builder select on this database reads the replica's decoy.
    expect(await db.select().from(table).where(eq(table.slug, 'k'))).toMatchObject([
      { title: 'replica decoy' },
    ])
    const before = replicaSent.length
    const store = drizzleStore(db, table)
    expect(await store.find({ slug: 'k' })).toBeUndefined()
    const created = await getOrCreate(store, { slug: 'k' }, { title: 'primary' })
    expect(created).toMatchObject({ created: true, row: { slug: 'k', title: 'primary' } })
    expect(await getOrCreate(store, { slug: 'k' }, { title: 'other' })).toEqual({
      created: false,
      row: created.row,
    })
    await primaryPool.query(`insert into ${name} (slug, title) values ('behind', 'on the primary only')`)
    expect(await store.find({ slug: 'behind' })).toMatchObject({ title: 'on the primary only' })
    expect(replicaSent.length - before).toBe(0)
  })

  test("a query cache never answers a find: a row deleted behind drizzle's back is created again", async () => {
    const { name, table } = await newTable()
    const cache = new MapCache()
    const db = drizzleMysql(primaryPool, { cache })
    const store = drizzleStore(db, table)
    const first = await getOrCreate(store, { slug: 'c' }, { title: 'first' })
    expect(first.created).toBe(true)
    const select = () => db.select().from(table).where(eq(table.slug, 'c'))
    expect(await select()).toEqual([first.row])
    await primaryPool.query(`delete from ${name} where slug = 'c'`)
    expect(await select()).toEqual([first.row]) // the control: the cache answered
    const gets = cache.gets
    expect(await store.find({ slug: 'c' })).toBeUndefined()
    const again = await getOrCreate(store, { slug: 'c' }, { title: 'second' })
    expect(again).toMatchObject({ created: true, row: { slug: 'c', title: 'second' } })
    expect(await store.find({ slug: 'c' })).toEqual(again.row)
    expect(cache.gets - gets).toBe(0)
  })
})

describe('SQLite (better-sqlite3)', () => {
  const dir = tempDir()
  afterAll(() => dir.remove())

  const tagsTable = sqliteTable('tags', {
    id: integer('id').primaryKey({ autoIncrement: true }),
    slug: text('slug').notNull(),
    title: text('title').notNull(),
  })
  const ddl =
    'create table tags (id integer primary key autoincrement, slug text not null unique, title text not null)'

  function open(file: string) {
    const client = new Database(`${dir.dir}/${file}`)
    client.exec(ddl)
    return client
  }

  test('withReplicas: find and getOrCreate read the primary; the replica is sent nothing', async () => {
    const primary = open('primary.db')
    const replicaClient = open('replica.db')
    replicaClient.exec(`insert into tags (slug, title) values ('k', 'replica decoy')`)
    const replicaSent: string[] = []
    const replica = drizzleSqlite(replicaClient, { logger: { logQuery: (q) => void replicaSent.push(q) } })
    const db = sqliteReplicas(drizzleSqlite(primary), [replica])
    expect(db.select().from(tagsTable).where(eq(tagsTable.slug, 'k')).all()).toMatchObject([
      { title: 'replica decoy' },
    ])
    const before = replicaSent.length
    const store = drizzleStore(db, tagsTable)
    expect(await store.find({ slug: 'k' })).toBeUndefined()
    const created = await getOrCreate(store, { slug: 'k' }, { title: 'primary' })
    expect(created).toMatchObject({ created: true, row: { slug: 'k', title: 'primary' } })
    expect(await getOrCreate(store, { slug: 'k' }, { title: 'other' })).toEqual({
      created: false,
      row: created.row,
    })
    expect(replicaSent.length - before).toBe(0)
    primary.close()
    replicaClient.close()
  })
})
