/**
 * `LOCK_LOST` when a quorum cannot confirm the lock: 3 real `redis-server` nodes, a Postgres table with no
 * unique index. The lock is taken on all three; then, while the `defaults` function runs under it, two of the
 * three nodes stop answering (hung by `DEBUG SLEEP`, or killed). The write's check before it (the confirmation
 * on an unfenced store, the fence's first round on a fenced `drizzleStore(db, table, { fences })`) gets one node
 * of the two it needs: `LockLostError` (`LOCK_LOST`, retryable), "too few nodes confirmed it (1 of 3, needs 2;
 * 2 did not answer", within about `commandTimeoutMs`, and nothing written (no row, no fence row).
 */
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import type { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'
import { nodesForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

const nodes = nodesForThisFile()
failOnUnhandledRejections(200)

const COMMAND_TIMEOUT_MS = 300

/** Make `node` unable to answer: hung for `ms` (`DEBUG SLEEP`, connections open) or killed (port closed). */
async function silence(node: RedisNode, how: 'hung' | 'killed', ms: number): Promise<void> {
  if (how === 'killed') {
    await node.kill()
    return
  }
  const sleeper = await node.client({ bounded: false })
  void sleeper.call('DEBUG', 'SLEEP', String(ms / 1_000)).catch(() => undefined)
  await delay(50) // the node is asleep before the write's check is sent
}

describe('a quorum that cannot confirm the lock before the write', () => {
  it.each([
    ['hung', 'an unfenced store'],
    ['hung', 'a fenced store'],
    ['killed', 'an unfenced store'],
    ['killed', 'a fenced store'],
  ] as const)('2 of 3 nodes %s after the acquire, %s: LOCK_LOST, nothing written', async (how, which) => {
    const fenced = which === 'a fenced store'
    const three = await nodes(3)
    const clients = await Promise.all(three.map((node) => node.client()))
    const fixture = await itemsFixture(4)
    const fences = scratchName('rl_qlost_fences')
    if (fenced) await fixture.sql.unsafe(pgFencesSql(fences))
    try {
      const store = fenced
        ? drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fences) })
        : drizzleStore(fixture.db, fixture.table)
      expect(store.checksFence === true).toBe(fenced)
      const strategy = redisLockStrategy({ clients, commandTimeoutMs: COMMAND_TIMEOUT_MS })
      // The lock key as the strategy takes it: from the table and key the database resolves.
      const identity = await store.lockIdentity?.({ slug: 'q' })
      const lockKey = lockKeyFor(identity?.table ?? store.name, identity?.key ?? { slug: 'q' })
      let heldOn = 0
      let defaultsRan = 0
      let silencedAt = 0
      const error = await getOrCreate(
        store,
        { slug: 'q' },
        async () => {
          defaultsRan++
          // Under the lock, taken on all three nodes.
          heldOn = (await Promise.all(clients.map((client) => client.exists(lockKey)))).reduce(
            (sum, n) => sum + n,
            0,
          )
          await Promise.all([silence(three[1]!, how, 2_000), silence(three[2]!, how, 2_000)])
          silencedAt = performance.now()
          return { payload: 'never' }
        },
        strategy,
      ).catch((caught: unknown) => caught)
      const failedAfter = performance.now() - silencedAt
      expect(defaultsRan).toBe(1)
      expect(heldOn).toBe(3)
      expect(isGetOrCreateError(error)).toBe(true)
      expect(error).toMatchObject({ code: 'LOCK_LOST', retryable: true, name: 'LockLostError' })
      expect((error as Error).message).toMatch(
        /too few nodes confirmed it \(1 of 3, needs 2; 2 did not answer/,
      )
      // The check waits for the silent nodes at most commandTimeoutMs (plus the release's, on the error path).
      expect(failedAfter).toBeLessThan(2 * COMMAND_TIMEOUT_MS + 400)
      // Nothing written: no row, and on the fenced store no fence row either (no token reached Postgres).
      expect(await fixture.total()).toBe(0)
      if (fenced) {
        const [row] = await fixture.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${fences}`)
        expect(row?.n).toBe(0)
      }
      // The live node's lock was given back on the error path.
      expect(await clients[0]!.exists(lockKey)).toBe(0)
    } finally {
      if (how === 'hung') await delay(2_100) // let the nodes wake before they are stopped
      await fixture.sql.unsafe(`drop table if exists ${fences}`)
      await fixture.drop()
    }
  })
})
