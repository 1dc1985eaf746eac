/** The lock key comes from the key as the database compares it, where the store says (Store.lockIdentity). */
import { randomUUID } from 'node:crypto'
import { getOrCreate, getOrCreateMany, memoryStore, type Store } from '@getorcreate/core'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'

type Item = { id: number; slug: string }

let node: RedisNode
let lockClient: Redis

beforeAll(async () => {
  node = await RedisNode.start()
  lockClient = await node.client()
})
afterAll(async () => {
  await node.stop()
})

/** What a case-insensitive, PAD SPACE collation makes of a string: 'Bob ', 'BOB' and 'bob' are one key. */
const fold = (slug: unknown) => String(slug).replace(/ +$/, '').toLowerCase()

/**
 * A store over a table whose `slug` compares under such a collation (no unique index: the lock must do it),
 * with or without `lockIdentity`; every lock identity it gave, in order.
 */
function foldingStore(withIdentity: boolean) {
  const inner = memoryStore<Item>({ name: `folding-${randomUUID()}`, autoIncrement: 'id' })
  const identities: unknown[] = []
  const folded = (key: Partial<Item>) => ({ ...key, slug: fold(key.slug) })
  const store: Store<Item, Partial<Item>, Partial<Item>> = {
    name: inner.name,
    find: (key, opts) => inner.find(folded(key), opts),
    insert: (values, opts) => inner.insert(folded(values), opts),
  }
  if (withIdentity) {
    store.lockIdentity = async (key) => {
      const identity = { table: `db:${inner.name}`, key: { slug: fold(key.slug) } }
      identities.push(identity)
      return identity
    }
  }
  return { store, inner, identities }
}

const SPELLINGS = ['Bob', 'bob ', 'BOB', 'bob']

describe('redisLockStrategy with Store.lockIdentity', () => {
  it('callers spelling one key differently take one lock: one row, one created, one id', async () => {
    const { store, inner, identities } = foldingStore(true)
    const strategy = redisLockStrategy({ clients: lockClient })
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        getOrCreate(store, { slug: SPELLINGS[i % SPELLINGS.length] }, {}, strategy),
      ),
    )
    expect(inner.rows()).toHaveLength(1)
    expect(results.filter((result) => result.created)).toHaveLength(1)
    expect(new Set(results.map((result) => result.row.id))).toEqual(new Set([1]))
    expect(identities.length).toBeGreaterThan(0) // asked on misses only
    const before = identities.length
    expect((await getOrCreate(store, { slug: 'BOB ' }, {}, strategy)).created).toBe(false)
    expect(identities).toHaveLength(before) // a hit takes no lock, so it asks nothing
  })

  it('getOrCreateMany: spellings of one key in one batch share one lock and settle one after the other: one row, one created', async () => {
    const { store, inner } = foldingStore(true)
    const strategy = redisLockStrategy({ clients: lockClient })
    const batch = [...SPELLINGS, 'alice', 'ALICE ']
    const results = await getOrCreateMany(
      store,
      batch.map((slug) => ({ key: { slug } })),
      strategy,
    )
    expect(inner.rows()).toHaveLength(2)
    expect(results.map((result) => result.created)).toEqual([true, false, false, false, true, false])
    expect(results.map((result) => result.row.slug)).toEqual(['bob', 'bob', 'bob', 'bob', 'alice', 'alice'])
    // Two batches of the same spellings in opposite orders, with single calls, at once: still one row each.
    const again = foldingStore(true)
    const outcomes = await Promise.all([
      getOrCreateMany(
        again.store,
        batch.map((slug) => ({ key: { slug } })),
        strategy,
      ),
      getOrCreateMany(
        again.store,
        [...batch].reverse().map((slug) => ({ key: { slug } })),
        strategy,
      ),
      ...batch.map((slug) => getOrCreate(again.store, { slug }, {}, strategy).then((result) => [result])),
    ])
    expect(again.inner.rows()).toHaveLength(2)
    expect(outcomes.flat().filter((result) => result.created)).toHaveLength(2)
  })

  it('without it, the same callers take one lock per spelling and create duplicates (what it prevents)', async () => {
    const { store, inner } = foldingStore(false)
    const strategy = redisLockStrategy({ clients: lockClient })
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        getOrCreate(store, { slug: SPELLINGS[i % SPELLINGS.length] }, {}, strategy),
      ),
    )
    expect(inner.rows().length).toBeGreaterThan(1)
  })

  it('a lockIdentity that answers nonsense is a TypeError, and nothing is written', async () => {
    const { store, inner } = foldingStore(false)
    store.lockIdentity = async () => ({ table: '', key: { slug: 'x' } })
    const strategy = redisLockStrategy({ clients: lockClient })
    await expect(getOrCreate(store, { slug: 'a' }, {}, strategy)).rejects.toThrow(/lockIdentity must return/)
    expect(inner.rows()).toEqual([])
  })
})
