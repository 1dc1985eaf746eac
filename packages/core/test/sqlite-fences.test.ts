/**
 * Fenced writes on SQLite (`drizzleStore(db, sqliteTable, { fences })`, better-sqlite3, real files in WAL), what
 * is SQLite's own (what every fenced store must do is the conformance suite's "fenced" group, run by
 * conformance-sqlite.test.ts): the create runs under the database's write lock (`BEGIN IMMEDIATE`), so while another process holds it, the create waits (busy
 * timeout) and then reads what that process committed; `sqliteFencesSql` creates the table
 * `sqliteFencesTable` maps; `pruneFences` deletes old rows only; and what cannot work is refused.
 */
import { join } from 'node:path'
import { LockLostError } from '@getorcreate/core'
import {
  drizzleStore,
  pgFencesTable,
  pruneFences,
  sqliteFencesSql,
  sqliteFencesTable,
} from '@getorcreate/core/drizzle'
import { raceWorkers, scratchName, startWorker } from '@getorcreate/test-support'

import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { checkPruneFences } from './support/fence-prune.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'

const HOLDER = new URL('./workers/sqlite-fence-holder.ts', import.meta.url)
const RACER = new URL('./workers/sqlite-fenced-race.ts', import.meta.url)
const PROCESSES = 4

const itemsTable = (name: string) =>
  sqliteTable(name, { id: integer('id').primaryKey(), slug: text('slug').notNull(), n: integer('n') })

let temp: ReturnType<typeof tempDir>
let h: SqliteHarness
let fencesName: string
let fences: ReturnType<typeof sqliteFencesTable>
beforeAll(() => {
  temp = tempDir()
  h = openSqlite(join(temp.dir, 'fences.db'))
  fencesName = scratchName('fences')
  h.client.exec(sqliteFencesSql(fencesName))
  fences = sqliteFencesTable(fencesName)
})
afterAll(() => {
  h.close()
  temp.remove()
})

function fixture() {
  const name = scratchName()
  h.client.exec(`create table ${name} (id integer primary key, slug text not null, n integer)`)
  const store = drizzleStore(h.db, itemsTable(name), { fences })
  const count = (slug: string) =>
    (h.other.prepare(`select count(*) as n from ${name} where slug = ?`).get(slug) as { n: number }).n
  const fence = (lockKey: string) =>
    (
      h.other.prepare(`select token from ${fencesName} where lock_key = ?`).get(lockKey) as
        | { token: number }
        | undefined
    )?.token
  return { name, store, count, fence }
}

describe('fenced writes, SQLite (better-sqlite3, WAL file)', () => {
  test('pruneFences deletes the rows no write raised for olderThanMs, and only those', async () => {
    await checkPruneFences({
      fencesName,
      store: fixture().store,
      insertOld: (old) => {
        h.other
          .prepare(`insert into ${fencesName} (lock_key, token, updated_at) values (?, 1, ?)`)
          .run(old, Date.now() - 3_600_000)
      },
      present: (keys) =>
        (
          h.other
            .prepare(
              `select lock_key from ${fencesName} where lock_key in (${keys.map(() => '?').join(', ')})`,
            )
            .all(...keys) as { lock_key: string }[]
        ).map((row) => row.lock_key),
      prune: (olderThanMs) => pruneFences(h.db, fences, { olderThanMs }),
    })
  })

  /** Another process takes the write lock, raises the fence to `token` and maybe inserts `slug`; then commits. */
  async function holding(name: string, lockKey: string, token: number, slug: string | null) {
    const holder = startWorker(HOLDER, {
      file: h.file,
      fences: fencesName,
      table: name,
      lockKey,
      token,
      slug,
      holdMs: 1_000,
    })
    await holder.printed('holding')
    return holder
  }

  test('another process holds the write lock, raised the fence and created the row: the create waits, then finds it', async () => {
    const { name, store, count, fence } = fixture()
    const lockKey = `lock-${fencesName}-wait`
    await store.insertIfAbsentFenced!({ slug: 'seed' }, { slug: 'seed' }, { token: 1, lockKey })
    const holder = await holding(name, lockKey, 2, 'w')
    // Blocked (busy_timeout) until the holder commits; then it reads the holder's row.
    expect(await store.insertIfAbsentFenced!({ slug: 'w' }, { slug: 'w' }, { token: 3, lockKey })).toBe(
      undefined,
    )
    await holder.done
    expect(count('w')).toBe(1)
    expect(fence(lockKey)).toBe(3)
  })

  test('another process holds the write lock and raised the fence past this token: LockLostError once it commits', async () => {
    const { name, store, count, fence } = fixture()
    const lockKey = `lock-${fencesName}-newer`
    const holder = await holding(name, lockKey, 5, null)
    await expect(
      store.insertIfAbsentFenced!({ slug: 'n' }, { slug: 'n' }, { token: 3, lockKey }),
    ).rejects.toBeInstanceOf(LockLostError)
    await holder.done
    expect(count('n')).toBe(0)
    expect(fence(lockKey)).toBe(5)
  })

  test('a holder that wrote no row: the create waiting for the lock inserts once it is granted', async () => {
    const { name, store, count, fence } = fixture()
    const lockKey = `lock-${fencesName}-nothing`
    const holder = await holding(name, lockKey, 2, null)
    expect(
      await store.insertIfAbsentFenced!({ slug: 'v' }, { slug: 'v' }, { token: 3, lockKey }),
    ).toMatchObject({
      slug: 'v',
    })
    await holder.done
    expect(count('v')).toBe(1)
    expect(fence(lockKey)).toBe(3)
  })
})

test(`${PROCESSES} OS processes race fenced creates on the same keys of one file, no lock: one row per key, created once`, async () => {
  // No unique index: only the write lock each fenced create holds keeps one row per key.
  const name = scratchName()
  h.client.exec(`create table ${name} (id integer primary key, slug text not null)`)
  const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`)
  const reports = await raceWorkers<{ key: string; created: boolean }[]>(
    RACER,
    Array.from({ length: PROCESSES }, (_, i) => ({
      file: h.file,
      table: name,
      fences: fencesName,
      keys,
      seed: i + 1,
    })),
  )
  const created = new Map<string, number>()
  for (const { key, created: made } of reports.flat())
    created.set(key, (created.get(key) ?? 0) + (made ? 1 : 0))
  const rows = h.other.prepare(`select slug, count(*) as n from ${name} group by slug`).all() as {
    slug: string
    n: number
  }[]
  expect(reports.flat()).toHaveLength(PROCESSES * keys.length)
  expect(rows).toHaveLength(keys.length)
  expect(rows.filter((row) => row.n !== 1)).toEqual([])
  expect(keys.filter((key) => created.get(key) !== 1)).toEqual([])
})

describe('drizzleStore on SQLite: fences refused before any I/O', () => {
  const table = itemsTable('never_created')
  test.each([
    ['fences of another dialect', { fences: pgFencesTable() }, /sqlite-core table/],
    [
      'a table without the fence columns',
      { fences: sqliteTable('f', { id: integer('id') }) },
      /no column lockKey/,
    ],
  ])('%s: a TypeError', (_, options, message) => {
    expect(() => drizzleStore(h.db, table, options as never)).toThrow(message)
    expect(() => drizzleStore(h.db, table, options as never)).toThrow(TypeError)
  })

  test('a store bound to a transaction: a TypeError (a fenced create opens its own BEGIN IMMEDIATE)', () => {
    let thrown: unknown
    h.db.transaction((tx) => {
      try {
        drizzleStore(tx, table, { fences })
      } catch (error) {
        thrown = error
      }
    })
    expect(thrown).toBeInstanceOf(TypeError)
    expect(String(thrown)).toMatch(/not a transaction/)
  })

  test('an asynchronous driver: a TypeError', () => {
    const asyncDb = Object.assign(Object.create(Object.getPrototypeOf(h.db)), h.db, { resultKind: 'async' })
    expect(() => drizzleStore(asyncDb, table, { fences })).toThrow(/synchronous driver/)
  })
})
