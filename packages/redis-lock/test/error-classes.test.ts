/**
 * Every throw site of `@getorcreate/redis-lock` that a user can reach, one row each, with the class its README
 * ("API", "Errors") and the repository's README ("Errors") promise for it, on a `redis-server` of this file's
 * own:
 *
 * - `RangeError` for invalid options (`clients` that are not clients, timings out of range or that cannot
 *   work together), `TypeError` for a `signal` that is not an `AbortSignal` (the option, `withSignal`) or a
 *   `singleFlight` that is not a boolean, and for a store that breaks its contract (`lockIdentity`'s answer,
 *   `findMany`'s count);
 * - `LockMisconfiguredError`, `LockInTransactionError`, `LockUnavailableError`, `LockLostError` and
 *   `RowVanishedError` (GetOrCreateErrors, with their codes);
 * - the caller's own: an aborted signal's `reason` (an `AbortError` `DOMException`, or the reason given), a
 *   `defaults` function's error, the store's error, each as it was.
 *
 * Each row asserts the exact class, `code` (the error's own, `undefined` where it has none), the message part
 * that tells the site from the others, and that `isGetOrCreateError` and `instanceof GetOrCreateError` agree
 * with the class. A row whose call does not throw fails.
 */
import { randomUUID } from 'node:crypto'
import {
  GetOrCreateError,
  getOrCreate,
  getOrCreateMany,
  isGetOrCreateError,
  LockInTransactionError,
  LockLostError,
  LockMisconfiguredError,
  LockUnavailableError,
  type MemoryStore,
  memoryStore,
  RowVanishedError,
  type Store,
} from '@getorcreate/core'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

/** An error class, as a row names it. */
type ErrorClass = (new (...args: never[]) => object) & { readonly prototype: object }

/** One throw site, and what it must throw. */
interface Case {
  /** The public call, and where the error is thrown (source file). */
  readonly site: string
  /** The error's class: exactly this one. */
  readonly is: ErrorClass
  /** The error's own `code`: a GetOrCreateError's, or what another error carries (a DOMException's number). */
  readonly code?: string | number
  /** A part of the message that tells this site from the others of its class. */
  readonly message: RegExp
  /** The call; it must throw (synchronously or by rejecting). */
  readonly run: () => unknown
}

/** The error `run` throws or rejects with; fails the row when it returns. */
async function thrownBy(run: () => unknown): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  expect.fail('the call did not throw')
}

/** The row's assertions: the exact class, its code, its message, and what isGetOrCreateError says. */
async function expectCase(c: Case): Promise<void> {
  const error = await thrownBy(c.run)
  expect(error).toBeInstanceOf(c.is)
  expect(Object.getPrototypeOf(error), `exactly ${c.is.name}`).toBe(c.is.prototype)
  const ours = c.is.prototype instanceof GetOrCreateError
  expect(isGetOrCreateError(error)).toBe(ours)
  expect(error instanceof GetOrCreateError).toBe(ours)
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown }
  if (ours) {
    expect(c.code, 'a GetOrCreateError row names its code').toBeDefined()
    expect(name).toBe(c.is.name)
  }
  expect(code).toBe(c.code)
  expect(String(message)).toMatch(c.message)
}

/** What the caller's own code throws: it must reach the caller as it was. */
class OwnError extends Error {}

type Item = { id: number; slug: string }

let node: RedisNode
let down: RedisNode
let client: Redis
let admin: Redis
let unreachable: Redis

beforeAll(async () => {
  ;[node, down] = await Promise.all([RedisNode.start(), RedisNode.start()])
  client = await node.client()
  admin = await node.client({ bounded: false })
  unreachable = await down.client()
  await down.kill() // its client stays, not connected: every lock command on it fails at once
})
afterAll(async () => {
  await Promise.all([node.stop(), down.stop()])
})

failOnUnhandledRejections(100)

/** A store of its own name, without a unique index: only the lock keeps it one row per key. */
function items(): MemoryStore<Item> {
  return memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
}

/**
 * A store (not a database) that checks fencing tokens but never writes, and never finds the row: the fenced
 * create finds "a row" under the fence each time, and never reads it back.
 */
function vanishingFencedStore(): Store<Item, { slug: string }, Partial<Item>> {
  return {
    name: `vanishing-${randomUUID()}`,
    checksFence: true,
    find: async () => undefined,
    insert: async () => {
      throw new Error('not called')
    },
    insertIfAbsentFenced: async () => undefined,
  }
}

/** Until `holder`'s `defaults` run under the lock of `slug`: a caller of another strategy waits on it. */
async function heldWhile<T>(
  slug: string,
  store: Store<Item, { slug: string }, Partial<Item>>,
  run: () => Promise<T>,
) {
  let holding!: () => void
  const held = new Promise<void>((resolve) => {
    holding = resolve
  })
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const holder = getOrCreate(
    store,
    { slug },
    async () => {
      holding()
      await released
      return {}
    },
    redisLockStrategy({ clients: client }),
  )
  await held
  try {
    return await run()
  } finally {
    release()
    await holder
  }
}

const CASES: Case[] = [
  {
    site: 'redisLockStrategy: clients (options.ts)',
    is: RangeError,
    message: /clients must be an ioredis client or a non-empty array of them/,
    run: () => redisLockStrategy({ clients: [] }),
  },
  {
    site: 'redisLockStrategy: ttlMs (options.ts)',
    is: RangeError,
    message: /ttlMs must be a whole number of milliseconds from 30/,
    run: () => redisLockStrategy({ clients: client, ttlMs: 10 }),
  },
  {
    site: 'redisLockStrategy: acquireTimeoutMs (options.ts)',
    is: RangeError,
    message: /acquireTimeoutMs must be a whole number of milliseconds from 1/,
    run: () => redisLockStrategy({ clients: client, acquireTimeoutMs: 0 }),
  },
  {
    site: 'redisLockStrategy: retryIntervalMs (options.ts)',
    is: RangeError,
    message: /retryIntervalMs must be a whole number/,
    run: () => redisLockStrategy({ clients: client, retryIntervalMs: 1.5 }),
  },
  {
    site: 'redisLockStrategy: commandTimeoutMs of ttlMs or more (options.ts)',
    is: RangeError,
    message: /commandTimeoutMs \(1000\) must be less than ttlMs \(1000\)/,
    run: () => redisLockStrategy({ clients: client, ttlMs: 1_000, commandTimeoutMs: 1_000 }),
  },
  {
    site: 'redisLockStrategy: signal (options.ts)',
    is: TypeError,
    message: /redisLockStrategy: signal must be an AbortSignal/,
    run: () => redisLockStrategy({ clients: client, signal: 'stop' as never }),
  },
  {
    site: 'redisLockStrategy: singleFlight (options.ts)',
    is: TypeError,
    message: /redisLockStrategy: singleFlight must be a boolean/,
    run: () => redisLockStrategy({ clients: client, singleFlight: 'yes' as never }),
  },
  {
    site: 'redisLockStrategy: batchReads (options.ts)',
    is: TypeError,
    message: /redisLockStrategy: batchReads must be a boolean/,
    run: () => redisLockStrategy({ clients: client, batchReads: 'yes' as never }),
  },
  {
    site: 'withSignal: no signal (redis-lock-strategy.ts)',
    is: TypeError,
    message: /withSignal needs an AbortSignal/,
    run: () => redisLockStrategy({ clients: client }).withSignal(undefined as never),
  },
  {
    site: 'withSignal: not a signal (options.ts)',
    is: TypeError,
    message: /withSignal\(signal\) must be an AbortSignal/,
    run: () => redisLockStrategy({ clients: client }).withSignal('stop' as never),
  },
  {
    site: 'redisLockStrategy: keyPrefix that is not a string (client-checks.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /keyPrefix must be a string/,
    run: () => redisLockStrategy({ clients: client, keyPrefix: 5 as never }),
  },
  {
    site: "redisLockStrategy: keyPrefix with an empty '{}' (client-checks.ts)",
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /holds an empty '\{\}'/,
    run: () => redisLockStrategy({ clients: client, keyPrefix: 'app:{}:' }),
  },
  {
    site: 'redisLockStrategy: one client twice (client-checks.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /clients holds one client more than once/,
    run: () => redisLockStrategy({ clients: [client, client, unreachable] }),
  },
  {
    site: 'redisLockStrategy: two clients of one host:port (client-checks.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /clients 1 and 2 both connect to 127\.0\.0\.1:/,
    run: async () => redisLockStrategy({ clients: [client, await node.client(), unreachable] }),
  },
  {
    site: 'redisLockStrategy: a client with its own keyPrefix (client-checks.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /the client has keyPrefix 'app:'/,
    run: async () => redisLockStrategy({ clients: await node.client({ keyPrefix: 'app:' }) }),
  },
  {
    site: 'redisLockStrategy: a client that can resend a cut-off command (client-checks.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /the client can resend a lock command after reconnecting/,
    run: () => redisLockStrategy({ clients: admin }),
  },
  {
    site: 'getOrCreate: one node under two addresses, at the first lock (distinct-nodes.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /clients 1 and 2 reach the same Redis node \(run_id \w+\) under two addresses/,
    run: async () => {
      const alias = await node.client({ host: 'localhost', family: 4 })
      return getOrCreate(items(), { slug: 'a' }, {}, redisLockStrategy({ clients: [client, alias] }))
    },
  },
  {
    site: 'getOrCreate: a store bound to a transaction (redis-lock-strategy.ts)',
    is: LockInTransactionError,
    code: 'LOCK_IN_TRANSACTION',
    message: /is bound to an open transaction/,
    run: () =>
      getOrCreate(
        { ...items(), inTransaction: true },
        { slug: 'a' },
        {},
        redisLockStrategy({ clients: client }),
      ),
  },
  {
    site: "getOrCreate: a store's lockIdentity answering no { table, key } (redis-lock-strategy.ts)",
    is: TypeError,
    message: /lockIdentity must return \{ table, key \}/,
    run: () =>
      getOrCreate(
        { ...items(), lockIdentity: () => ({ table: '', key: {} }) },
        { slug: 'a' },
        {},
        redisLockStrategy({ clients: client }),
      ),
  },
  {
    site: "getOrCreateMany: a store's findMany answering the wrong number of rows (create-many-under-locks.ts)",
    is: TypeError,
    message: /findMany answered 0 rows for 1 keys/,
    run: () =>
      getOrCreateMany(
        { ...items(), findMany: async () => [] },
        [{ key: { slug: 'a' } }],
        redisLockStrategy({ clients: client }),
      ),
  },
  {
    site: 'getOrCreate: the lock held by another caller for the whole wait (redlock-client.ts)',
    is: LockUnavailableError,
    code: 'LOCK_UNAVAILABLE',
    message: /Could not take the lock .* within 100 ms .*another caller held it for the whole wait/,
    run: () => {
      const store = items()
      return heldWhile('held', store, () =>
        getOrCreate(
          store,
          { slug: 'held' },
          {},
          redisLockStrategy({ clients: client, acquireTimeoutMs: 100 }),
        ),
      )
    },
  },
  {
    site: 'getOrCreate: Redis down (redlock-client.ts)',
    is: LockUnavailableError,
    code: 'LOCK_UNAVAILABLE',
    message: /Redis is down or unreachable: no node answered/,
    run: () =>
      getOrCreate(
        items(),
        { slug: 'a' },
        {},
        redisLockStrategy({ clients: unreachable, acquireTimeoutMs: 100 }),
      ),
  },
  {
    site: 'getOrCreate: the lock deleted while defaults ran (redlock-client.ts, confirm)',
    is: LockLostError,
    code: 'LOCK_LOST',
    message: /Lost the lock .* before the write: it expired or was taken \(1 of 1 nodes/,
    run: () => {
      const store = items()
      return getOrCreate(
        store,
        { slug: 'lost' },
        async () => {
          await admin.del(lockKeyFor(store.name, { slug: 'lost' }))
          return {}
        },
        redisLockStrategy({ clients: client }),
      )
    },
  },
  {
    site: 'getOrCreate: a row found under the fence but never read back, 3 times (create-under-lock.ts)',
    is: RowVanishedError,
    code: 'ROW_VANISHED',
    message: /found under the fence but deleted before it could be read, 3 times/,
    run: () => getOrCreate(vanishingFencedStore(), { slug: 'a' }, {}, redisLockStrategy({ clients: client })),
  },
  {
    site: "getOrCreate: an aborted signal's reason, the default one (redlock-client.ts)",
    is: DOMException,
    code: 20, // DOMException.ABORT_ERR
    message: /aborted/,
    run: () =>
      getOrCreate(
        items(),
        { slug: 'a' },
        {},
        redisLockStrategy({ clients: client }).withSignal(AbortSignal.abort()),
      ),
  },
  {
    site: "getOrCreate: an aborted signal's reason, the caller's (redlock-client.ts)",
    is: OwnError,
    message: /^stop$/,
    run: () =>
      getOrCreate(
        items(),
        { slug: 'a' },
        {},
        redisLockStrategy({ clients: client, signal: AbortSignal.abort(new OwnError('stop')) }),
      ),
  },
  {
    site: "getOrCreate: a defaults function's own error, unchanged",
    is: OwnError,
    message: /^mine$/,
    run: () =>
      getOrCreate(
        items(),
        { slug: 'a' },
        () => {
          throw new OwnError('mine')
        },
        redisLockStrategy({ clients: client }),
      ),
  },
  {
    site: "getOrCreate: the store's own error, unchanged",
    is: OwnError,
    message: /^down$/,
    run: () =>
      getOrCreate(
        {
          ...items(),
          find: async () => {
            throw new OwnError('down')
          },
        },
        { slug: 'a' },
        {},
        redisLockStrategy({ clients: client }),
      ),
  },
]

describe('every error redis-lock throws, by class', () => {
  test.each(CASES)('$site', expectCase)
})
