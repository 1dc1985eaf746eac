/**
 * A holder whose write is stalled inside the database past its lock's TTL (issue 12, proof 1, the database
 * side; paused-holder.test.ts stops the holder before its write leaves the process), on Postgres
 * (postgres.js), MariaDB and a SQLite file (WAL) that both callers' processes open. The holder, a worker
 * process, takes the lock and sends its write; a trigger makes that write wait in the database at a gate the
 * test holds (support/stalls.ts: an advisory lock, a user lock, or on SQLite a blocking function of the
 * holder's own connection; only the holder's writes wait). The holder process is then stopped (SIGSTOP), so
 * nothing extends its lock, which expires; another caller, a second worker with a strategy of its own, takes
 * the lock and writes; then the test opens the gate and resumes the holder (SIGCONT).
 *
 * Fenced, the write stalls either before it raises the fence (a trigger on the fences table) or after (a
 * trigger on the items table, the fence row taken); either way one row, one `created: true`, both callers on
 * its id. On Postgres and MariaDB, stalled before its raise, the holder holds nothing the other needs: the
 * other creates, and the holder's raise then finds the newer token: `LOCK_LOST`. Stalled after its raise, the
 * holder holds the fence row: the other's raise waits for it, then reads the holder's row. On SQLite a stall
 * before the raise that lets the other write first cannot happen: the fenced create's transaction takes the
 * database's one write lock (`BEGIN IMMEDIATE`) before it raises, so at either placement the other waits for
 * the holder's commit, then reads its row. Plain (the control run), stalled in its insert: the insert lands
 * beside the other's, two rows (on SQLite the other's insert waits for the write lock, then inserts anyway).
 */
import { setTimeout as delay } from 'node:timers/promises'
import { resultOf, startWorker, type Worker } from '@getorcreate/test-support'
import { describe, expect, it } from 'vitest'
import { itemsDatabase } from './support/items-database.js'
import type { ItemsDialect } from './support/items-store.js'
import { lockKeysOf, nodeForThisFile } from './support/redis.js'
import { installStall, type Stall } from './support/stalls.js'
import type { WriterJob, WriterOutcome } from './workers/writer-worker.js'

const writer = new URL('./workers/writer-worker.ts', import.meta.url)
const TTL_MS = 1_000

const node = nodeForThisFile()

/** Poll `ready` every 20 ms until it holds; throws, naming `what`, after 30 s or once `watched` has exited. */
async function waitFor(what: string, ready: () => Promise<boolean>, watched?: Worker): Promise<void> {
  const until = Date.now() + 30_000
  while (!(await ready())) {
    if (watched && watched.child.exitCode !== null)
      throw new Error(`a worker exited while waiting for ${what}`)
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`)
    await delay(20)
  }
}

/**
 * The scenario on a fresh table of `dialect`. `stallIn`: the table whose trigger stalls the holder's insert:
 * `fences` (the fence raise) or `items` (its row, after the raise). Returns both callers' outcomes, whether
 * the other's write had to wait for the stalled holder's statement, and the rows for the key.
 */
async function stalledPastTtl(dialect: ItemsDialect, fenced: boolean, stallIn: 'fences' | 'items') {
  const db = await itemsDatabase(dialect, fenced)
  const admin = await node().client()
  const workers: Worker[] = []
  let stall: Stall | undefined
  try {
    const on = stallIn === 'fences' ? db.target.fences : db.target.table
    if (on === undefined) throw new Error('a stall in the fence raise needs a fenced store')
    stall = await installStall(db, on)
    const { stallMark, sqliteStall } = stall.holder
    const slug = 'stalled'
    const job = { redisUrl: node().url, slug, ttlMs: TTL_MS }
    // The holder's store is the whole drizzleStore (plain: its one-statement insertIfAbsentUnderLock); the
    // other's says `writing` before its write.
    const holderJob: WriterJob = {
      ...job,
      target: { ...db.target, ...(stallMark && { stallMark }) },
      payload: 'stalled',
      ...(sqliteStall && { sqliteStall }),
    }
    const holder = startWorker(writer, holderJob)
    const other = startWorker(writer, {
      ...job,
      target: db.target,
      payload: 'other',
      pauseMs: 0,
      awaitGo: true,
    } satisfies WriterJob)
    workers.push(holder, other)
    await other.printed('ready')
    const current = stall
    await waitFor('the holder to stall in the trigger', () => current.stalled(), holder)
    holder.child.kill('SIGSTOP')
    // Stopped, it extends nothing: its lock expires while its statement waits in the database.
    await waitFor("the holder's lock to expire", async () => (await lockKeysOf(admin)).length === 0, holder)

    other.go()
    await other.printed('writing')
    let otherDone = false
    const settled = () => {
      otherDone = true
    }
    other.done.then(settled, settled)
    // Either the other caller finishes while the holder's statement still waits, or its write waits for the
    // holder's (the fence row's lock; on SQLite, the write lock).
    await waitFor("the other caller's write to finish or wait for the holder's", async () => {
      if (otherDone) return true
      return current.otherWaits()
    })
    const otherWaited = !otherDone
    const holderStalledMeanwhile = await stall.stalled()

    await stall.release()
    holder.child.kill('SIGCONT')
    const outcome = resultOf<WriterOutcome>(await other.done, 'the other caller')
    const stalled = resultOf<WriterOutcome>(await holder.done, 'the stalled holder')
    const rows = (await db.countBySlug()).get(slug) ?? 0
    return { stalled, other: outcome, otherWaited, holderStalledMeanwhile, rows }
  } finally {
    await Promise.all(workers.map((worker) => worker.kill()))
    await stall?.drop()
    admin.disconnect()
    await db.close()
  }
}

type Result = Awaited<ReturnType<typeof stalledPastTtl>>

/** The other caller created the row while the holder waited; the holder's write found its token: LOCK_LOST. */
function expectHolderLost({ stalled, other, otherWaited, rows }: Result): void {
  expect(otherWaited).toBe(false)
  expect(other).toMatchObject({ created: true })
  expect(stalled).toEqual({ error: 'LOCK_LOST' })
  expect(rows).toBe(1)
}

/** The other caller's write waited for the holder's commit, then read the holder's row. */
function expectOtherReadsHolders({ stalled, other, otherWaited, rows }: Result): void {
  expect(otherWaited).toBe(true)
  expect(stalled).toMatchObject({ created: true })
  expect(other).toEqual({ id: (stalled as { id: number }).id, created: false })
  expect(rows).toBe(1)
}

describe.each([
  ['Postgres', 'postgres'],
  ['MariaDB', 'mariadb'],
  ['SQLite file', 'sqlite'],
] as const)(
  `%s: a holder whose write is stalled in the database past its lock's TTL (${TTL_MS} ms)`,
  (_, dialect) => {
    // SQLite's fenced create takes the one write lock before its raise: the other always waits for the holder.
    const writeLockFirst = dialect === 'sqlite'

    it(`fenced, stalled before its fence raise: ${writeLockFirst ? 'the other caller waits, then reads its row' : 'the other caller creates; the holder gets LOCK_LOST, writes nothing'}`, async () => {
      const result = await stalledPastTtl(dialect, true, 'fences')
      expect(result.holderStalledMeanwhile).toBe(true)
      if (writeLockFirst) expectOtherReadsHolders(result)
      else expectHolderLost(result)
    })

    it("fenced, stalled in its row's insert after its fence raise: the other caller waits for it, then reads its row", async () => {
      const result = await stalledPastTtl(dialect, true, 'items')
      expect(result.holderStalledMeanwhile).toBe(true)
      expectOtherReadsHolders(result)
    })

    it('plain store (the control run), stalled in its insert: both create, two rows', async () => {
      const { stalled, other, otherWaited, holderStalledMeanwhile, rows } = await stalledPastTtl(
        dialect,
        false,
        'items',
      )
      expect(holderStalledMeanwhile).toBe(true)
      // Only SQLite's one write lock makes the other's insert wait for the holder's; it inserts after it anyway.
      expect(otherWaited).toBe(writeLockFirst)
      expect(other).toMatchObject({ created: true })
      expect(stalled).toMatchObject({ created: true })
      expect(rows).toBe(2)
    })
  },
)
