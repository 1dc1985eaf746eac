/**
 * README ("drizzleStore"): on Postgres the store prepares its statements through the database's own session,
 * so under drizzle's `withReplicas` every read goes to the primary, and drizzle's query cache, if configured,
 * never answers a find. On every Postgres driver (postgres.js, node-postgres, PGlite), with real databases:
 *
 * - the replica is a connection that can be told apart: on a server, one whose `search_path` is a schema of
 *   its own holding a table of the same name with a decoy row; on PGlite, another in-process database with that
 *   table and row. Its drizzle logger counts what it is sent: nothing, whatever the store does;
 * - the cache really caches (strategy `'all'`, a map dropped per table on a mutation), as a plain
 *   `db.select()` on the same database shows; a row deleted behind its back (by another connection, which
 *   drizzle's cache cannot hear of) is still not found by the store, and is created again.
 */
import { PGlite } from '@electric-sql/pglite'
import { getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import { eq, type Logger } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { pgTable, serial, text, withReplicas } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { MapCache } from './support/map-cache.js'
import { PG_DRIVERS, type PgDriver } from './support/pg.js'

/** The primary (raw SQL, and drizzle over it with options) and a replica drizzle can be pointed at. */
interface Databases {
  /** A drizzle database over the primary, with `cache` if given; its statements in `queries`. */
  primary(cache?: MapCache): AnyPgDatabase
  /** Statements drizzle sent to the primary. */
  readonly queries: string[]
  /** The replica's drizzle database; its statements in `replicaQueries`. */
  readonly replica: AnyPgDatabase
  readonly replicaQueries: string[]
  /** Raw SQL on the primary, outside drizzle. */
  exec(text: string): Promise<void>
  /** Raw SQL on the replica, outside drizzle. */
  execReplica(text: string): Promise<void>
  close(): Promise<void>
}

/** `search_path` of the server replicas: a schema with a decoy table of the same name. */
const replicaSchema = scratchName('replica')

async function open(driver: PgDriver): Promise<Databases> {
  const queries: string[] = []
  const replicaQueries: string[] = []
  const logger: Logger = { logQuery: (query) => void queries.push(query) }
  const replicaLogger: Logger = { logQuery: (query) => void replicaQueries.push(query) }
  switch (driver) {
    case 'postgres.js': {
      const client = postgres(databaseUrl(), { max: 2, onnotice: () => {} })
      const replicaClient = postgres(databaseUrl(), {
        max: 1,
        onnotice: () => {},
        connection: { search_path: replicaSchema },
      })
      return {
        primary: (cache) => drizzlePostgresJs(client, { logger, ...(cache && { cache }) }),
        queries,
        replica: drizzlePostgresJs(replicaClient, { logger: replicaLogger }),
        replicaQueries,
        exec: async (text) => void (await client.unsafe(text)),
        execReplica: async (text) => void (await replicaClient.unsafe(text)),
        close: async () => {
          await client.end({ timeout: 5 })
          await replicaClient.end({ timeout: 5 })
        },
      }
    }
    case 'node-postgres': {
      const client = new pg.Pool({ connectionString: databaseUrl(), max: 2 })
      const replicaClient = new pg.Pool({
        connectionString: databaseUrl(),
        max: 1,
        options: `-c search_path=${replicaSchema}`,
      })
      return {
        primary: (cache) => drizzleNodePg(client, { logger, ...(cache && { cache }) }),
        queries,
        replica: drizzleNodePg(replicaClient, { logger: replicaLogger }),
        replicaQueries,
        exec: async (text) => void (await client.query(text)),
        execReplica: async (text) => void (await replicaClient.query(text)),
        close: async () => {
          await client.end()
          await replicaClient.end()
        },
      }
    }
    case 'pglite': {
      const client = new PGlite()
      const replicaClient = new PGlite()
      return {
        primary: (cache) => drizzlePglite(client, { logger, ...(cache && { cache }) }),
        queries,
        replica: drizzlePglite(replicaClient, { logger: replicaLogger }),
        replicaQueries,
        exec: async (text) => void (await client.exec(text)),
        execReplica: async (text) => void (await replicaClient.exec(text)),
        close: async () => {
          await client.close()
          await replicaClient.close()
        },
      }
    }
  }
}

const ddl = (name: string) =>
  `create table ${name} (id serial primary key, slug text not null unique, title text not null)`
const tagsTable = (name: string) =>
  pgTable(name, {
    id: serial('id').primaryKey(),
    slug: text('slug').notNull(),
    title: text('title').notNull(),
  })

describe.each(PG_DRIVERS)('%s', (driver) => {
  let d: Databases
  const tables: string[] = []
  const server = driver !== 'pglite'

  beforeAll(async () => {
    d = await open(driver)
    if (server) await d.exec(`create schema ${replicaSchema}`)
  })
  afterAll(async () => {
    try {
      if (tables.length > 0) await d.exec(`drop table if exists ${tables.join(', ')}`)
      if (server) await d.exec(`drop schema if exists ${replicaSchema} cascade`)
    } finally {
      await d.close()
    }
  })

  /** A new table on the primary, and one of the same name on the replica holding a decoy row `k`. */
  async function newTable() {
    const name = scratchName('replicas')
    tables.push(name)
    await d.exec(ddl(name))
    await d.execReplica(ddl(name))
    await d.execReplica(`insert into ${name} (slug, title) values ('k', 'replica decoy')`)
    return { name, table: tagsTable(name) }
  }

  test('withReplicas: find, getOrCreate and getOrCreateMany read the primary; the replica is sent nothing', async () => {
    const { name, table } = await newTable()
    const db = withReplicas(d.primary(), [d.replica]) as unknown as AnyPgDatabase
    // Control: drizzle's own builder select on this database reads the replica, and sees its decoy row.
    expect(await db.select().from(table).where(eq(table.slug, 'k'))).toMatchObject([
      { title: 'replica decoy' },
    ])
    const replicaBefore = d.replicaQueries.length
    expect(replicaBefore).toBe(1)
    const fromPrimary = d.queries.length

    const store = drizzleStore(db, table)
    expect(await store.find({ slug: 'k' })).toBeUndefined() // the primary has no row k
    const created = await getOrCreate(store, { slug: 'k' }, { title: 'primary' })
    expect(created).toMatchObject({ created: true, row: { slug: 'k', title: 'primary' } })
    expect(await getOrCreate(store, { slug: 'k' }, { title: 'other' })).toEqual({
      created: false,
      row: created.row,
    })
    // A row the replica lacks, written on the primary behind the store's back, is found.
    await d.exec(`insert into ${name} (slug, title) values ('behind', 'on the primary only')`)
    expect(await store.find({ slug: 'behind' })).toMatchObject({ title: 'on the primary only' })
    expect(await store.find({ slug: 'behind' }, { fresh: true })).toMatchObject({
      title: 'on the primary only',
    })
    const many = await getOrCreateMany(store, [
      { key: { slug: 'k' }, defaults: { title: 'x' } },
      { key: { slug: 'behind' }, defaults: { title: 'x' } },
      { key: { slug: 'new' }, defaults: { title: 'batch' } },
    ])
    expect(many.map(({ created, row }) => [row.slug, row.title, created])).toEqual([
      ['k', 'primary', false],
      ['behind', 'on the primary only', false],
      ['new', 'batch', true],
    ])

    expect(d.replicaQueries.length - replicaBefore).toBe(0)
    expect(d.queries.length - fromPrimary).toBeGreaterThan(0)
  })

  test("a query cache never answers a find: a row deleted behind drizzle's back is not found, and is created again", async () => {
    const { name, table } = await newTable()
    const cache = new MapCache()
    const db = d.primary(cache)
    const store = drizzleStore(db, table)
    const first = await getOrCreate(store, { slug: 'c' }, { title: 'first' })
    expect(first.created).toBe(true)
    expect(await store.find({ slug: 'c' })).toEqual(first.row)

    // Control: the cache is live. A builder select is cached, and answered from the cache after a delete
    // drizzle never saw (another connection's).
    const select = () => db.select().from(table).where(eq(table.slug, 'c'))
    expect(await select()).toEqual([first.row])
    const getsBefore = cache.gets
    await d.exec(`delete from ${name} where slug = 'c'`)
    expect(await select()).toEqual([first.row]) // stale: the cache answered
    expect(cache.gets - getsBefore).toBe(1)

    // The store reads the table: the row is gone, and the cache is never asked.
    const gets = cache.gets
    expect(await store.find({ slug: 'c' })).toBeUndefined()
    expect(await store.find({ slug: 'c' }, { fresh: true })).toBeUndefined()
    const again = await getOrCreate(store, { slug: 'c' }, { title: 'second' })
    expect(again).toMatchObject({ created: true, row: { slug: 'c', title: 'second' } })
    expect(again.row.id).not.toBe(first.row.id)
    expect(await getOrCreate(store, { slug: 'c' }, { title: 'third' })).toEqual({
      created: false,
      row: again.row,
    })
    const [batched] = await getOrCreateMany(store, [{ key: { slug: 'c' }, defaults: { title: 'x' } }])
    expect(batched).toEqual({ created: false, row: again.row })
    expect(cache.gets - gets).toBe(0)
  })
})
