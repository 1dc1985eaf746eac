/** A lock strategy must not run over a store bound to an open transaction: it would create duplicates. */
import { getOrCreate, isGetOrCreateError, LockInTransactionError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

it('refuses drizzleStore(tx, table) before any I/O, and works with drizzleStore(db, table)', async () => {
  const fixture = await itemsFixture(2)
  const strategy = redisLockStrategy({ clients: await node.client() })
  try {
    const error = await fixture.db
      .transaction(async (tx) => {
        const store = drizzleStore(tx, fixture.table)
        expect(store.inTransaction).toBe(true)
        return getOrCreate(store, { slug: 'a' }, {}, strategy)
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockInTransactionError)
    expect(isGetOrCreateError(error) && error.code).toBe('LOCK_IN_TRANSACTION')
    expect((error as Error).message).toContain('drizzleStore(db, table)')
    expect(await fixture.total()).toBe(0)
    expect(fixture.store.inTransaction).toBe(false)
    expect((await getOrCreate(fixture.store, { slug: 'a' }, {}, strategy)).created).toBe(true)
    expect(await fixture.total()).toBe(1)
  } finally {
    await fixture.drop()
  }
})
