/**
 * The store conformance suite in its lock-strategy mode over one dialect's tables, as the conformance-*.test.ts
 * files run it: the real `redisLockStrategy` on the local Redis (REDIS_URL), once with one strategy and once
 * with one strategy per caller ({@link contenders}).
 */
import { once } from 'node:events'
import type { Strategy } from '@getorcreate/core'
import { type EqualKeys, runStoreConformance, type StoreConformanceOptions } from '@getorcreate/core/testing'
import { redisUrl, scratchName } from '@getorcreate/test-support'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, test } from 'vitest'
import { type RedisLockStrategy, redisLockStrategy } from '../../src/index.js'
import { failOnUnhandledRejections } from './unhandled.js'

/**
 * `strategies[i]` for the i-th call, round robin: each call goes through a real `redisLockStrategy`, and calls
 * through different ones contend for the Redis lock itself, as callers in separate processes do (calls
 * through one strategy in one process share one acquisition per key instead).
 */
export function contenders(strategies: readonly RedisLockStrategy[]): Strategy {
  let next = 0
  return {
    name: 'redis-lock',
    getOrCreate(store, key, values) {
      const strategy = strategies[next++ % strategies.length]!
      return strategy.getOrCreate(store, key, values)
    },
  }
}

/** What {@link runLockConformance} needs of a dialect. */
export interface LockConformanceOptions {
  /** The store, for the suite's names: `'SQLite (better-sqlite3)'`. */
  readonly database: string
  /** Tags this file's lock keys on the shared Redis (with the run): `'rl_sqlite'`. */
  readonly tag: string
  /** Callers at once in the suite's races (a store's pool at least this large). */
  readonly concurrency: number
  /** Tables without a unique index on the key, except the `'unique'` shape (see the suite's options). */
  readonly table: StoreConformanceOptions['table']
  /** The dialect's key-equality cases, each on a table without a unique index. */
  readonly equalKeys: readonly EqualKeys[]
  /** Whether the dialect's store batches (`findMany`, `insertManyIfAbsentAtomically`): the `'batch'` member. */
  readonly batch?: boolean
}

/**
 * Register the suite twice over `options.table`, with `enforcedBy: 'strategy'`, NULL keys allowed (the lock,
 * not an index, keeps one row per key) and the members every drizzleStore has: with one `redisLockStrategy`,
 * as an application uses it, and with one strategy per caller, independent lock contenders. Opens a Redis
 * client first (closed after the file's tests), hence async: `await` it at the top of the test file.
 */
export async function runLockConformance(options: LockConformanceOptions): Promise<void> {
  const redis = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  redis.on('error', () => undefined)
  if (redis.status !== 'ready') await once(redis, 'ready')
  afterAll(() => redis.disconnect())
  failOnUnhandledRejections(50)

  // Lock keys of this file on the shared Redis: under a prefix tagged with the run.
  const keyPrefix = `getorcreate:lock:${scratchName(options.tag)}:`
  const onRedis = () => redisLockStrategy({ clients: redis, keyPrefix })
  const { database, concurrency } = options
  const suite = {
    enforcedBy: 'strategy',
    nullKeys: 'allowed',
    concurrency,
    table: options.table,
    members: [
      'insertIfAbsentAtomically',
      'uniqueIndexFix',
      'statements',
      ...(options.batch ? (['batch'] as const) : []),
      'update',
    ],
    equalKeys: options.equalKeys,
  } as const
  const api = { describe, test, expect }
  const over = `over drizzleStore, ${database}, no unique index on the key`
  runStoreConformance(api, {
    ...suite,
    name: `redisLockStrategy (REDIS_URL, one strategy) ${over}`,
    strategy: onRedis(),
  })
  runStoreConformance(api, {
    ...suite,
    name: `redisLockStrategy (REDIS_URL, ${concurrency} independent strategies) ${over}`,
    strategy: contenders(Array.from({ length: concurrency }, () => onRedis())),
  })
}
