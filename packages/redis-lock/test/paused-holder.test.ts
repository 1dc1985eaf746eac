/**
 * The gap a lock with a TTL leaves, and fenced writes closing it, with real processes and real pauses: a
 * holder (a worker process) passes every check before its write, is stopped (SIGSTOP) on its way to the
 * database until its lock has expired, another caller takes the lock and creates the row, and the holder is
 * resumed (SIGCONT). On a fenced store its write carries an older token than the new owner's: `LOCK_LOST`,
 * nothing written, one row. On the plain store (the control run) its insert lands: a second row. On Postgres,
 * a SQLite file (WAL) that both processes open, and MariaDB, through one worker (workers/paused-writer-worker.ts).
 */
import { getOrCreate, type Store } from '@getorcreate/core'
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
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { mysqlItemsTable } from './support/mysql.js'
import { itemsFixture } from './support/postgres.js'
import { sqliteItemsFile } from './support/sqlite.js'
import type { PausedWriterDialect, PausedWriterJob } from './workers/paused-writer-worker.js'

const pausedWriter = new URL('./workers/paused-writer-worker.ts', import.meta.url)
const TTL_MS = 1_000

type Outcome = { id: number; created: boolean } | { error: string }
type AnyStore = Store<Record<string, unknown>, Record<string, unknown>, Record<string, unknown>>

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

/** A fresh items table (no unique index on `slug`), with a fences table of that name when `fences` is given. */
interface Items {
  /** What the worker opens: the database URL, or the SQLite file. */
  readonly url: string
  readonly table: string
  /** A store over the table, in this process: fenced by `fences`, or plain. */
  store(fences: string | undefined): AnyStore
  /** Rows holding `slug`, counted in the table itself. */
  rows(slug: string): Promise<number>
  /** Drop what {@link ITEMS} made. */
  close(): Promise<void>
}

const ITEMS: Record<PausedWriterDialect, (fences: string | undefined) => Promise<Items>> = {
  async postgres(fences) {
    const fixture = await itemsFixture(4)
    if (fences) await fixture.sql.unsafe(pgFencesSql(fences))
    return {
      url: databaseUrl(),
      table: fixture.name,
      store: (fenced) =>
        (fenced
          ? drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fenced) })
          : fixture.store) as unknown as AnyStore,
      rows: async (slug) => (await fixture.countBySlug()).get(slug) ?? 0,
      close: async () => {
        if (fences) await fixture.sql.unsafe(`drop table if exists ${fences}`)
        await fixture.drop()
      },
    }
  },
  async sqlite(fences) {
    const fixture = sqliteItemsFile(fences)
    return {
      url: fixture.file,
      table: fixture.name,
      store: (fenced) =>
        (fenced
          ? drizzleStore(fixture.db, fixture.table, { fences: sqliteFencesTable(fenced) })
          : drizzleStore(fixture.db, fixture.table)) as unknown as AnyStore,
      rows: async (slug) => fixture.countBySlug(slug),
      close: async () => fixture.close(),
    }
  },
  async mariadb(fences) {
    const name = scratchName('rl_my_paused')
    const raw = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 4 })
    await raw.query(
      `create table ${name} (id int auto_increment primary key, slug varchar(100) not null, payload varchar(100), key (slug))`,
    )
    if (fences) await raw.query(mysqlFencesSql(fences))
    const db = drizzle(raw, { mode: 'default' })
    const table = mysqlItemsTable(name)
    return {
      url: mysqlUrl(),
      table: name,
      store: (fenced) =>
        (fenced
          ? drizzleStore(db, table, { fences: mysqlFencesTable(fenced) })
          : drizzleStore(db, table)) as unknown as AnyStore,
      rows: async (slug) => {
        const [counted] = await raw.query(`select count(*) as n from ${name} where slug = ?`, [slug])
        return Number((counted as { n: unknown }[])[0]?.n)
      },
      close: async () => {
        try {
          await raw.query(`drop table if exists ${[name, ...(fences ? [fences] : [])].join(', ')}`)
        } finally {
          await raw.end()
        }
      },
    }
  },
}

/**
 * The scenario on a fresh table of `dialect`: the paused holder's outcome, the other caller's result, the rows
 * for the key.
 */
async function pausedPastTtl(dialect: PausedWriterDialect, fenced: boolean) {
  const fences = fenced ? scratchName('rl_fences') : undefined
  const items = await ITEMS[dialect](fences)
  const admin = await node.client()
  try {
    const slug = 'paused'
    const job: PausedWriterJob = {
      dialect,
      url: items.url,
      table: items.table,
      ...(fences && { fences }),
      redisUrl: node.url,
      slug,
      ttlMs: TTL_MS,
    }
    const holder = startWorker(pausedWriter, job)
    await holder.printed('writing')
    holder.child.kill('SIGSTOP')
    // Stopped between its last check and its write: its lock expires, as nothing extends it any more.
    const lockKeys = async () =>
      (await admin.keys('getorcreate:lock:*')).filter((key) => !key.endsWith(':fence'))
    while ((await lockKeys()).length > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const other = await getOrCreate(items.store(fences), { slug }, { payload: 'other' }, strategy)
    holder.child.kill('SIGCONT')
    const paused = resultOf<Outcome>(await holder.done, 'the paused holder')
    return { paused, other, rows: await items.rows(slug) }
  } finally {
    admin.disconnect()
    await items.close()
  }
}

describe.each([
  ['Postgres', 'postgres'],
  ['SQLite file', 'sqlite'],
  ['MariaDB', 'mariadb'],
] as const)(
  `%s: a holder paused past its lock's TTL (${TTL_MS} ms) between its last check and its write`,
  (_, dialect) => {
    it('fenced store: the holder gets LOCK_LOST and writes nothing; one row, created once', async () => {
      const { paused, other, rows } = await pausedPastTtl(dialect, true)
      expect(other.created).toBe(true)
      expect(paused).toEqual({ error: 'LOCK_LOST' })
      expect(rows).toBe(1)
    })

    it('plain store (the control run): the holder writes a second row', async () => {
      const { paused, other, rows } = await pausedPastTtl(dialect, false)
      expect(other.created).toBe(true)
      expect(paused).toMatchObject({ created: true })
      expect(rows).toBe(2)
    })
  },
)
