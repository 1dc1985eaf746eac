/**
 * The gap a lock with a TTL leaves, and fenced writes closing it, with real processes and real pauses: a
 * holder (a worker process, workers/writer-worker.ts) passes every check before its write, is stopped
 * (SIGSTOP) on its way to the database until its lock has expired, another caller (in the test's process)
 * takes the lock and creates the row, and the holder is resumed (SIGCONT). On a fenced store its write is the
 * fenced create, which reads the key before it raises the fence: it finds the new owner's row and answers it
 * (`created: false`), nothing written, one row (a write already in the database when the lock expired is
 * refused by the fence's token: stalled-in-database.test.ts). On the plain store (the control run) its write
 * is the insert after its fresh read, and it lands: a second row. On Postgres through postgres.js and through node-postgres (both
 * callers' driver), MariaDB, and a SQLite file (WAL) that both processes
 * open. PGlite, one process's embedded database, has its own variant: paused-holder-pglite.test.ts.
 */
import { getOrCreate } from '@getorcreate/core'
import { resultOf, startWorker } from '@getorcreate/test-support'
import { describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { itemsDatabase } from './support/items-database.js'
import { type ItemsDialect, openItemsStore } from './support/items-store.js'
import { lockKeysOf, nodeForThisFile } from './support/redis.js'
import type { WriterJob, WriterOutcome } from './workers/writer-worker.js'

const writer = new URL('./workers/writer-worker.ts', import.meta.url)
const TTL_MS = 1_000

const node = nodeForThisFile()

/**
 * The scenario on a fresh table of `dialect`: the paused holder's outcome, the other caller's result, the rows
 * for the key.
 */
async function pausedPastTtl(dialect: ItemsDialect, fenced: boolean) {
  const db = await itemsDatabase(dialect, fenced)
  const admin = await node().client()
  const other = await openItemsStore(db.target)
  try {
    const slug = 'paused'
    const job: WriterJob = {
      target: db.target,
      redisUrl: node().url,
      slug,
      payload: 'paused',
      ttlMs: TTL_MS,
      pauseMs: 500,
    }
    const holder = startWorker(writer, job)
    await holder.printed('writing')
    holder.child.kill('SIGSTOP')
    // Stopped between its last check and its write: its lock expires, as nothing extends it any more.
    while ((await lockKeysOf(admin)).length > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const created = await getOrCreate(other.store, { slug }, { payload: 'other' }, strategy)
    holder.child.kill('SIGCONT')
    const paused = resultOf<WriterOutcome>(await holder.done, 'the paused holder')
    return { paused, other: created, rows: (await db.countBySlug()).get(slug) ?? 0 }
  } finally {
    admin.disconnect()
    await other.close()
    await db.close()
  }
}

describe.each([
  ['Postgres (postgres.js)', 'postgres'],
  ['Postgres (node-postgres)', 'node-postgres'],
  ['SQLite file', 'sqlite'],
  ['MariaDB', 'mariadb'],
] as const)(
  `%s: a holder paused past its lock's TTL (${TTL_MS} ms) between its last check and its write`,
  (_, dialect) => {
    it("fenced store: the holder's create finds the new owner's row before raising the fence, writes nothing and answers that row; one row, created once", async () => {
      const { paused, other, rows } = await pausedPastTtl(dialect, true)
      expect(other.created).toBe(true)
      expect(paused).toEqual({ id: other.row.id, created: false })
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
