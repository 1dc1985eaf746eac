/**
 * A holder whose write is stalled inside the database past its lock's TTL (issue 12, proof 1, the database
 * side; paused-holder.test.ts stops the holder before its write leaves the process). The holder, a worker
 * process, takes the lock and sends its write; a trigger on the table makes that write wait, in the database,
 * for an advisory lock the test holds (only rows from the holder's sessions wait: they carry the setting
 * `getorcreate.stall`). The statement has its snapshot and waits; the holder process is stopped (SIGSTOP), so
 * nothing extends its lock, which expires; another caller, with a strategy of its own, takes the lock and
 * writes; then the test lets the stalled statement go (it finishes in the database, whether or not its client
 * runs), and resumes the holder (SIGCONT).
 *
 * Fenced, the write stalls either before it raises the fence (a trigger on the fences table) or after (a
 * trigger on the items table, while it holds the fence row's lock); either way one row, one `created: true`,
 * both callers on its id. Plain (the control run): the stalled insert lands beside the other's, two rows.
 */
import { randomInt } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { databaseUrl, resultOf, scratchName, startWorker, type Worker } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'

const stalledWriter = new URL('./workers/stalled-writer-worker.ts', import.meta.url)
const TTL_MS = 1_000

type Outcome = { id: number; created: boolean } | { error: string }

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

/** Poll `ready` every 20 ms until it holds; throws, naming `what`, after 30 s or once `worker` has exited. */
async function waitFor(what: string, worker: Worker, ready: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + 30_000
  while (!(await ready())) {
    if (worker.child.exitCode !== null) throw new Error(`the holder exited while waiting for ${what}`)
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`)
    await delay(20)
  }
}

/**
 * The scenario on a fresh table. `stallIn`: the table whose trigger stalls the holder's insert: `fences` (the
 * fence raise, before the fence row is locked) or `items` (its row, after the raise). Returns the holder's
 * outcome, the other caller's result, whether the other's write had to wait for the stalled holder's
 * statement, and the rows for the key.
 */
async function stalledPastTtl(fenced: boolean, stallIn: 'fences' | 'items') {
  const fixture = await itemsFixture(4)
  const fences = fenced ? scratchName('rl_fences') : undefined
  const stall = scratchName('rl_stall')
  const gateKey = randomInt(1, 2 ** 31)
  const admin = await node.client()
  const gate = await fixture.sql.reserve()
  let holder: Worker | undefined
  try {
    if (fences) await fixture.sql.unsafe(pgFencesSql(fences))
    await fixture.sql.unsafe(`create function ${stall}() returns trigger language plpgsql as $$
      begin
        if current_setting('getorcreate.stall', true) = '${stall}' then
          perform pg_advisory_xact_lock(${gateKey});
        end if;
        return new;
      end $$`)
    const target = stallIn === 'fences' ? fences : fixture.name
    if (target === undefined) throw new Error('a stall in the fence raise needs a fenced store')
    await fixture.sql.unsafe(
      `create trigger ${stall} before insert on ${target} for each row execute function ${stall}()`,
    )
    await gate`select pg_advisory_lock(${gateKey})`

    const slug = 'stalled'
    const worker = startWorker(stalledWriter, {
      databaseUrl: databaseUrl(),
      table: fixture.name,
      fences,
      redisUrl: node.url,
      slug,
      ttlMs: TTL_MS,
      stallMark: stall,
    })
    holder = worker
    // The holder's statement is in the database, waiting in the trigger: find its backend.
    let holderPid = 0
    await waitFor('the holder to stall in the trigger', worker, async () => {
      const [waiter] = await fixture.sql<{ pid: number }[]>`select pid from pg_locks
        where locktype = 'advisory' and classid = 0 and objid = ${gateKey} and objsubid = 1 and not granted`
      holderPid = waiter?.pid ?? 0
      return holderPid !== 0
    })
    const stillStalled = async () => {
      const [row] = await fixture.sql<{ n: number }[]>`select count(*)::int as n from pg_locks
        where pid = ${holderPid} and locktype = 'advisory' and objid = ${gateKey} and not granted`
      return row?.n === 1
    }
    worker.child.kill('SIGSTOP')
    // Stopped, it extends nothing: its lock expires while its statement waits in the database.
    const lockKeys = async () =>
      (await admin.keys('getorcreate:lock:*')).filter((key) => !key.endsWith(':fence'))
    await waitFor("the holder's lock to expire", worker, async () => (await lockKeys()).length === 0)

    const store = fences
      ? drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fences) })
      : fixture.store
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    let otherDone = false
    const otherCall = getOrCreate(store, { slug }, { payload: 'other' }, strategy)
    otherCall.then(
      () => {
        otherDone = true
      },
      () => {
        otherDone = true
      },
    )
    // Either the other caller finishes while the holder's statement still waits, or its own statement waits
    // for the holder's (the fence row's lock).
    await waitFor("the other caller's write to finish or wait for the holder's", worker, async () => {
      if (otherDone) return true
      const [row] = await fixture.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where ${holderPid} = any(pg_blocking_pids(pid))`
      return (row?.n ?? 0) > 0
    })
    const otherWaited = !otherDone
    const holderStalledMeanwhile = await stillStalled()

    await gate`select pg_advisory_unlock(${gateKey})`
    worker.child.kill('SIGCONT')
    const other = await otherCall
    const stalled = resultOf<Outcome>(await worker.done, 'the stalled holder')
    const rows = (await fixture.countBySlug()).get(slug) ?? 0
    return { stalled, other, otherWaited, holderStalledMeanwhile, rows }
  } finally {
    await holder?.kill()
    // Let go of the gate even when a check failed on the way, so that no statement is left waiting for it.
    await gate`select pg_advisory_unlock_all()`.catch(() => undefined)
    gate.release()
    admin.disconnect()
    await fixture.sql.unsafe(`drop function if exists ${stall}() cascade`)
    if (fences) await fixture.sql.unsafe(`drop table if exists ${fences}`)
    await fixture.drop()
  }
}

describe(`a holder whose write is stalled in the database past its lock's TTL (${TTL_MS} ms)`, () => {
  it('fenced, stalled before its fence raise: the other caller creates; the holder gets LOCK_LOST, writes nothing', async () => {
    const { stalled, other, otherWaited, holderStalledMeanwhile, rows } = await stalledPastTtl(true, 'fences')
    // The other caller's create committed while the holder's statement, snapshot taken, still waited.
    expect(otherWaited).toBe(false)
    expect(holderStalledMeanwhile).toBe(true)
    expect(other.created).toBe(true)
    expect(stalled).toEqual({ error: 'LOCK_LOST' })
    expect(rows).toBe(1)
  })

  it("fenced, stalled in its row's insert after its fence raise: the other caller waits for it, then reads its row", async () => {
    const { stalled, other, otherWaited, holderStalledMeanwhile, rows } = await stalledPastTtl(true, 'items')
    // The holder's raise holds the fence row: the newer owner's statement waits for it in the database, and
    // then, its snapshot older than the holder's row, reads again instead of inserting.
    expect(otherWaited).toBe(true)
    expect(holderStalledMeanwhile).toBe(true)
    expect(stalled).toMatchObject({ created: true })
    expect(other).toMatchObject({ created: false })
    expect(other.row.id).toBe((stalled as { id: number }).id)
    expect(rows).toBe(1)
  })

  it('plain store (the control run), stalled in its insert: both create, two rows', async () => {
    const { stalled, other, otherWaited, holderStalledMeanwhile, rows } = await stalledPastTtl(false, 'items')
    expect(otherWaited).toBe(false)
    expect(holderStalledMeanwhile).toBe(true)
    expect(other.created).toBe(true)
    expect(stalled).toMatchObject({ created: true })
    expect(rows).toBe(2)
  })
})
