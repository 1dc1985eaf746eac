/**
 * The gap a lock with a TTL leaves, and fenced writes closing it, with real processes and real pauses: a
 * holder (a worker process) passes every check before its write, is stopped (SIGSTOP) on its way to the
 * database until its lock has expired, another caller takes the lock and creates the row, and the holder is
 * resumed (SIGCONT). On a fenced store its write carries an older token than the new owner's: `LOCK_LOST`,
 * nothing written, one row. On the plain store (the control run) its insert lands: a second row.
 */
import { getOrCreate } from '@getorcreate/core'
import {
  drizzleStore,
  mysqlFencesSql,
  mysqlFencesTable,
  pgFencesSql,
  pgFencesTable,
  sqliteFencesTable,
} from '@getorcreate/core/drizzle'
import { databaseUrl, mysqlUrl, resultOf, scratchName, startWorker } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { int as myInt, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'
import { sqliteItemsFile } from './support/sqlite.js'

const pausedWriter = new URL('./workers/paused-writer-worker.ts', import.meta.url)
const TTL_MS = 1_000

type Outcome = { id: number; created: boolean } | { error: string }

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

/**
 * The scenario on a fresh table: the paused holder's outcome, the other caller's result, the rows for the key.
 */
async function pausedPastTtl(fenced: boolean) {
  const fixture = await itemsFixture(4)
  const fences = fenced ? scratchName('rl_fences') : undefined
  const admin = await node.client()
  try {
    if (fences) await fixture.sql.unsafe(pgFencesSql(fences))
    const slug = 'paused'
    const holder = startWorker(pausedWriter, {
      databaseUrl: databaseUrl(),
      table: fixture.name,
      fences,
      redisUrl: node.url,
      slug,
      ttlMs: TTL_MS,
    })
    await holder.printed('writing')
    holder.child.kill('SIGSTOP')
    // Stopped between its last check and its write: its lock expires, as nothing extends it any more.
    const lockKeys = async () =>
      (await admin.keys('getorcreate:lock:*')).filter((key) => !key.endsWith(':fence'))
    while ((await lockKeys()).length > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const store = fences
      ? drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fences) })
      : fixture.store
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const other = await getOrCreate(store, { slug }, { payload: 'other' }, strategy)
    holder.child.kill('SIGCONT')
    const paused = resultOf<Outcome>(await holder.done, 'the paused holder')
    const rows = (await fixture.countBySlug()).get(slug) ?? 0
    return { paused, other, rows }
  } finally {
    admin.disconnect()
    if (fences) await fixture.sql.unsafe(`drop table if exists ${fences}`)
    await fixture.drop()
  }
}

describe(`a holder paused past its lock's TTL (${TTL_MS} ms) between its last check and its write`, () => {
  it('fenced store: the holder gets LOCK_LOST and writes nothing; one row, created once', async () => {
    const { paused, other, rows } = await pausedPastTtl(true)
    expect(other.created).toBe(true)
    expect(paused).toEqual({ error: 'LOCK_LOST' })
    expect(rows).toBe(1)
  })

  it('plain store (the control run): the holder writes a second row', async () => {
    const { paused, other, rows } = await pausedPastTtl(false)
    expect(other.created).toBe(true)
    expect(paused).toMatchObject({ created: true })
    expect(rows).toBe(2)
  })
})

/** The same scenario on a SQLite file (WAL) that the holder process and this one open. */
async function pausedPastTtlOnSqlite(fenced: boolean) {
  const fences = fenced ? scratchName('rl_fences') : undefined
  const fixture = sqliteItemsFile(fences)
  const admin = await node.client()
  try {
    const slug = 'paused'
    const holder = startWorker(pausedWriter, {
      databaseUrl: databaseUrl(),
      sqliteFile: fixture.file,
      table: fixture.name,
      fences,
      redisUrl: node.url,
      slug,
      ttlMs: TTL_MS,
    })
    await holder.printed('writing')
    holder.child.kill('SIGSTOP')
    const lockKeys = async () =>
      (await admin.keys('getorcreate:lock:*')).filter((key) => !key.endsWith(':fence'))
    while ((await lockKeys()).length > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const store = fences
      ? drizzleStore(fixture.db, fixture.table, { fences: sqliteFencesTable(fences) })
      : drizzleStore(fixture.db, fixture.table)
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const other = await getOrCreate(store, { slug }, { payload: 'other' }, strategy)
    holder.child.kill('SIGCONT')
    const paused = resultOf<Outcome>(await holder.done, 'the paused holder')
    return { paused, other, rows: fixture.countBySlug(slug) }
  } finally {
    admin.disconnect()
    fixture.close()
  }
}

describe(`SQLite file: a holder paused past its lock's TTL (${TTL_MS} ms) between its last check and its write`, () => {
  it('fenced store: the holder gets LOCK_LOST and writes nothing; one row, created once', async () => {
    const { paused, other, rows } = await pausedPastTtlOnSqlite(true)
    expect(other.created).toBe(true)
    expect(paused).toEqual({ error: 'LOCK_LOST' })
    expect(rows).toBe(1)
  })

  it('plain store (the control run): the holder writes a second row', async () => {
    const { paused, other, rows } = await pausedPastTtlOnSqlite(false)
    expect(other.created).toBe(true)
    expect(paused).toMatchObject({ created: true })
    expect(rows).toBe(2)
  })
})

const pausedMariaDbWriter = new URL('./workers/paused-writer-mariadb-worker.ts', import.meta.url)

/** {@link pausedPastTtl} on MariaDB: a table without a unique index on `slug`, fenced by `mysqlFencesTable`. */
async function pausedPastTtlMariaDb(fenced: boolean) {
  const name = scratchName('rl_my_paused')
  const fences = fenced ? scratchName('rl_my_fences') : undefined
  const raw = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 4 })
  const admin = await node.client()
  try {
    await raw.query(
      `create table ${name} (id int auto_increment primary key, slug varchar(100) not null, payload varchar(100), key (slug))`,
    )
    if (fences) await raw.query(mysqlFencesSql(fences))
    const slug = 'paused'
    const holder = startWorker(pausedMariaDbWriter, {
      mysqlUrl: mysqlUrl(),
      table: name,
      fences,
      redisUrl: node.url,
      slug,
      ttlMs: TTL_MS,
    })
    await holder.printed('writing')
    holder.child.kill('SIGSTOP')
    const lockKeys = async () =>
      (await admin.keys('getorcreate:lock:*')).filter((key) => !key.endsWith(':fence'))
    while ((await lockKeys()).length > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const table = mysqlTable(name, {
      id: myInt('id').autoincrement().primaryKey(),
      slug: varchar('slug', { length: 100 }).notNull(),
      payload: varchar('payload', { length: 100 }),
    })
    const db = drizzle(raw, { mode: 'default' })
    const store = fences
      ? drizzleStore(db, table, { fences: mysqlFencesTable(fences) })
      : drizzleStore(db, table)
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const other = await getOrCreate(store, { slug }, { payload: 'other' }, strategy)
    holder.child.kill('SIGCONT')
    const paused = resultOf<Outcome>(await holder.done, 'the paused holder')
    const [counted] = await raw.query(`select count(*) as n from ${name} where slug = ?`, [slug])
    return { paused, other, rows: Number((counted as { n: unknown }[])[0]?.n) }
  } finally {
    admin.disconnect()
    await raw.query(`drop table if exists ${[name, ...(fences ? [fences] : [])].join(', ')}`)
    await raw.end()
  }
}

describe(`MariaDB: a holder paused past its lock's TTL (${TTL_MS} ms) between its last check and its write`, () => {
  it('fenced store: the holder gets LOCK_LOST and writes nothing; one row, created once', async () => {
    const { paused, other, rows } = await pausedPastTtlMariaDb(true)
    expect(other.created).toBe(true)
    expect(paused).toEqual({ error: 'LOCK_LOST' })
    expect(rows).toBe(1)
  })

  it('plain store (the control run): the holder writes a second row', async () => {
    const { paused, other, rows } = await pausedPastTtlMariaDb(false)
    expect(other.created).toBe(true)
    expect(paused).toMatchObject({ created: true })
    expect(rows).toBe(2)
  })
})
