/**
 * The store conformance suite in its lock-strategy mode (`enforcedBy: 'strategy'`), with the real
 * `redisLockStrategy` on the local Redis (REDIS_URL), over a SQLite `drizzleStore` (better-sqlite3, a WAL file per table) whose tables have
 * no unique index on their key (see test/support/sqlite.ts), and with the key-equality cases: spellings of one
 * key that SQLite treats as equal (case under NOCASE, trailing spaces under RTRIM, number text under numeric
 * affinity, a Date in a `timestamp` column's whole seconds) must take one lock, so that one row is created for them all. Once with one strategy, as an
 * application uses it; once with one strategy per caller, independent lock contenders as if from separate
 * processes.
 */
import { once } from 'node:events'
import type { Strategy } from '@getorcreate/core'
import { runStoreConformance } from '@getorcreate/core/testing'
import { redisUrl, scratchName } from '@getorcreate/test-support'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, test } from 'vitest'
import { type RedisLockStrategy, redisLockStrategy } from '../src/index.js'
import { sqliteEqualKeys, sqliteShapeTable } from './support/sqlite.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

/**
 * Callers at once in the suite's races. One connection serves them all (better-sqlite3 is synchronous):
 * the callers interleave at every await, the Redis lock's round trips among them.
 */
const CONCURRENCY = 16

const redis = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
redis.on('error', () => undefined)
if (redis.status !== 'ready') await once(redis, 'ready')
afterAll(() => redis.disconnect())

failOnUnhandledRejections(50)

/** Lock keys of this file on the shared Redis: under a prefix tagged with the run. */
const keyPrefix = `getorcreate:lock:${scratchName('rl_sqlite')}:`
const onRedis = () => redisLockStrategy({ clients: redis, keyPrefix })

/** `strategies[i]` for the i-th call, round robin: independent contenders for the Redis lock. */
function contenders(strategies: readonly RedisLockStrategy[]): Strategy {
  let next = 0
  return {
    name: 'redis-lock',
    getOrCreate(store, key, values) {
      return strategies[next++ % strategies.length]!.getOrCreate(store, key, values)
    },
  }
}

const api = { describe, test, expect }
const sqlite = {
  enforcedBy: 'strategy',
  nullKeys: 'allowed',
  concurrency: CONCURRENCY,
  table: sqliteShapeTable,
  members: ['insertIfAbsentAtomically', 'uniqueIndexFix', 'statements'],
  equalKeys: sqliteEqualKeys(),
} as const

runStoreConformance(api, {
  ...sqlite,
  name: 'redisLockStrategy (REDIS_URL, one strategy) over drizzleStore, SQLite (better-sqlite3), no unique index on the key',
  strategy: onRedis(),
})

runStoreConformance(api, {
  ...sqlite,
  name: `redisLockStrategy (REDIS_URL, ${CONCURRENCY} independent strategies) over drizzleStore, SQLite (better-sqlite3), no unique index on the key`,
  strategy: contenders(Array.from({ length: CONCURRENCY }, () => onRedis())),
})
