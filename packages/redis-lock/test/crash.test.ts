/** A holder that crashes (its process killed) while holding the lock: the lock outlives it by at most the TTL. */
import { getOrCreate } from '@getorcreate/core'
import { databaseUrl, startWorker } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'

const holderWorker = new URL('./workers/holder-worker.ts', import.meta.url)
const TTL_MS = 1_500

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

it('a holder killed while holding: the next caller gets the lock only after the TTL, and creates the key once', async () => {
  const fixture = await itemsFixture(4)
  const admin = await node.client()
  const config = {
    databaseUrl: databaseUrl(),
    table: fixture.name,
    redisUrl: node.url,
    slug: 'crash',
    ttlMs: TTL_MS,
  }
  const holder = startWorker(holderWorker, config)
  try {
    await holder.printed('holding')
    // Held for longer than one TTL: the holder's process keeps extending it.
    const lockKey = lockKeyFor(fixture.store.name, { slug: 'crash' })
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 300))
    expect(await admin.exists(lockKey)).toBe(1)

    await holder.kill()
    const killedAt = Date.now()
    const remaining = await admin.pttl(lockKey)
    expect(remaining).toBeGreaterThan(0)
    expect(remaining).toBeLessThanOrEqual(TTL_MS)

    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const result = await getOrCreate(fixture.store, { slug: 'crash' }, { payload: 'after crash' }, strategy)
    const waited = Date.now() - killedAt
    expect(result.created).toBe(true)
    expect(result.row.payload).toBe('after crash')
    expect(waited).toBeGreaterThanOrEqual(remaining - 20) // not before the dead holder's lock expired
    expect(waited).toBeLessThan(TTL_MS + 1_000)
    expect(await fixture.total()).toBe(1)

    const again = await getOrCreate(fixture.store, { slug: 'crash' }, { payload: 'again' }, strategy)
    expect(again).toEqual({ row: result.row, created: false })
    expect(await fixture.total()).toBe(1)
  } finally {
    await holder.kill()
    await fixture.drop()
  }
})
