/**
 * The store conformance suite in its lock-strategy mode (`enforcedBy: 'strategy'`), with the real
 * `redisLockStrategy` on the local Redis (REDIS_URL), over a MariaDB `drizzleStore` (mysql2) whose tables have
 * no unique index on their key (see test/support/mysql.ts), and with the key-equality cases: spellings of one
 * key that MariaDB treats as equal (case, accents and trailing spaces under its collations; a Date or a decimal
 * the column rounds) must take one lock, so that one row is created for them all. Once with one strategy, as an
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
import { mysqlEqualKeys, mysqlShapeTable } from './support/mysql.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

/** Callers at once in the suite's races; the store's pool is exactly this large. */
const CONCURRENCY = 16

const redis = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
redis.on('error', () => undefined)
if (redis.status !== 'ready') await once(redis, 'ready')
afterAll(() => redis.disconnect())

failOnUnhandledRejections(50)

/** Lock keys of this file on the shared Redis: under a prefix tagged with the run. */
const keyPrefix = `getorcreate:lock:${scratchName('rl_mariadb')}:`
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
const mariadb = {
  enforcedBy: 'strategy',
  nullKeys: 'allowed',
  concurrency: CONCURRENCY,
  table: (shape: Parameters<typeof mysqlShapeTable>[0]) => mysqlShapeTable(shape, CONCURRENCY),
  members: ['insertIfAbsentAtomically', 'uniqueIndexFix', 'statements'],
  equalKeys: mysqlEqualKeys(CONCURRENCY),
} as const

runStoreConformance(api, {
  ...mariadb,
  name: 'redisLockStrategy (REDIS_URL, one strategy) over drizzleStore, MariaDB (mysql2), no unique index on the key',
  strategy: onRedis(),
})

runStoreConformance(api, {
  ...mariadb,
  name: `redisLockStrategy (REDIS_URL, ${CONCURRENCY} independent strategies) over drizzleStore, MariaDB (mysql2), no unique index on the key`,
  strategy: contenders(Array.from({ length: CONCURRENCY }, () => onRedis())),
})
