/**
 * A lock command cut off by a dropped connection: ioredis keeps it and, once reconnected, sends it again unless
 * the client has `maxRetriesPerRequest: 0` or `autoResendUnfulfilledCommands: false`. A resent acquire runs
 * after the strategy gave up on it, and holds the key for a whole TTL with a token nobody owns. The cut is real:
 * the node is paused for writes (`CLIENT PAUSE … WRITE`, so the acquire waits in the node, not yet run), the
 * lock client's connection is killed (`CLIENT KILL ID`), and the node is unpaused once the call has failed.
 */

import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, isGetOrCreateError, memoryStore } from '@getorcreate/core'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import type { Redis, RedisOptions } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { RedlockClient } from '../src/lock/redlock-client.js'
import { ACQUIRE_SCRIPT } from '../src/lock/scripts.js'

const TTL_MS = 5_000

let node: RedisNode
let other: RedisNode
let admin: Redis

beforeAll(async () => {
  ;[node, other] = await Promise.all([RedisNode.start(), RedisNode.start()])
  admin = await node.client({ bounded: false })
  // As on a node that has served locks before: the resent EVALSHA finds its script (a NOSCRIPT would hide it).
  await admin.script('LOAD', ACQUIRE_SCRIPT.source)
})
afterAll(async () => {
  await Promise.all([node.stop(), other.stop()])
})

/** The error code of `promise`'s rejection, or `'resolved'`. */
async function outcomeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (isGetOrCreateError(error) ? error.code : String(error)),
  )
}

/**
 * Run `call` (a lock acquisition on `client`, giving up within about 400 ms) while the node holds back writes,
 * kill `client`'s connection 50 ms in, and once `call` has settled and `client` has reconnected (800 ms after the
 * cut), let the node run what it held back. Answers how the call ended and the lock keys under `prefix` then.
 */
async function cutMidAcquire(client: Redis, prefix: string, call: () => Promise<unknown>) {
  const id = await client.client('ID')
  await admin.call('CLIENT', 'PAUSE', '5000', 'WRITE')
  try {
    const pending = outcomeOf(call())
    await delay(50)
    const closed = once(client, 'close')
    await admin.call('CLIENT', 'KILL', 'ID', String(id))
    await closed
    const outcome = await pending
    if (client.status !== 'ready') await once(client, 'ready')
    await admin.call('CLIENT', 'UNPAUSE')
    await delay(200) // whatever the reconnected client resent has run by now
    const keys = await admin.keys(`${prefix}*`)
    const ttls = await Promise.all(keys.map((key) => admin.pttl(key)))
    return { outcome, keys, ttls }
  } finally {
    await admin.call('CLIENT', 'UNPAUSE')
  }
}

/** A lock client that reconnects 800 ms after a cut: after the acquire below has given up. */
function lockClient(settings: RedisOptions): Promise<Redis> {
  return node.client({ ...settings, retryStrategy: () => 800 })
}

describe('a client that can resend a cut-off command', () => {
  it.each([
    ['the old recommendation', { enableOfflineQueue: false, maxRetriesPerRequest: 1 }],
    ["ioredis's defaults", { bounded: false }],
    ['unlimited retries', { enableOfflineQueue: false, maxRetriesPerRequest: null }],
  ] as const)('is refused with LOCK_MISCONFIGURED: %s', async (_name, settings) => {
    const client = await node.client(settings)
    expect(() => redisLockStrategy({ clients: client })).toThrow(
      expect.objectContaining({
        code: 'LOCK_MISCONFIGURED',
        message: expect.stringMatching(/maxRetriesPerRequest: 0/),
      }),
    )
    // Among several clients, the message names which one.
    const good = await other.client()
    expect(() => redisLockStrategy({ clients: [good, client] })).toThrow(/client 2 of 2 can resend/)
  })

  it('is the hazard: under the strategy, its cut-off acquire is resent and locks the key for a whole TTL', async () => {
    // The lock layer itself, which does not check clients: what the strategy would do with such a client.
    const client = await lockClient({ enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    const prefix = `getorcreate:test:${randomUUID()}:`
    const lock = new RedlockClient({ clients: [client], retryIntervalMs: 20, commandTimeoutMs: 300 })
    const key = `${prefix}{k}`
    const { outcome, keys, ttls } = await cutMidAcquire(client, prefix, () =>
      lock.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 400, signals: [] }),
    )
    expect(outcome).toBe('LOCK_UNAVAILABLE')
    expect(keys).toEqual([key]) // held by the resent attempt's token, which nobody holds any more
    expect(ttls[0]).toBeGreaterThan(TTL_MS - 1_000)
    await admin.del(key)
  })
})

describe.each([
  ['maxRetriesPerRequest: 0', { enableOfflineQueue: false, maxRetriesPerRequest: 0 }],
  [
    'autoResendUnfulfilledCommands: false',
    { enableOfflineQueue: false, autoResendUnfulfilledCommands: false },
  ],
] as const)('a client with %s', (_name, settings) => {
  it('is accepted; an acquire cut off mid-flight leaves the key free, and the next caller takes it at once', async () => {
    const client = await lockClient(settings)
    const prefix = `getorcreate:test:${randomUUID()}:`
    const strategy = redisLockStrategy({
      clients: client,
      keyPrefix: prefix,
      ttlMs: TTL_MS,
      commandTimeoutMs: 300,
      acquireTimeoutMs: 400,
    })
    const store = memoryStore<{ id: number; slug: string }>({
      name: `items-${randomUUID()}`,
      autoIncrement: 'id',
    })
    const { outcome, keys } = await cutMidAcquire(client, prefix, () =>
      getOrCreate(store, { slug: 'a' }, {}, strategy),
    )
    expect(outcome).toBe('LOCK_UNAVAILABLE')
    expect(keys).toEqual([])
    // Within its 400 ms acquire timeout: no orphaned lock to wait out.
    await expect(getOrCreate(store, { slug: 'a' }, {}, strategy)).resolves.toMatchObject({ created: true })
  })
})
