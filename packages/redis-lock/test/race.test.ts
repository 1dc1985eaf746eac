/**
 * The race the strategy exists for: a Postgres table with no unique index, through drizzleStore, 200 keys ×
 * 50 callers at once, in one process and from four OS processes; and the same race without the lock.
 */
import { getOrCreate } from '@getorcreate/core'
import { databaseUrl, type RaceOutcome, raceViolations, raceWorkers } from '@getorcreate/test-support'
import { RedisNode, startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'

const KEYS = 200
const CALLERS = 50
const slugs = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
const raceWorker = new URL('./workers/race-worker.ts', import.meta.url)

describe(`race: ${KEYS} keys × ${CALLERS} callers at once, table without a unique index`, () => {
  let single: RedisNode
  let three: RedisNode[]
  let client: Redis
  beforeAll(async () => {
    single = await RedisNode.start()
    three = await startRedisNodes(3)
    client = await single.client()
  })
  afterAll(async () => {
    await Promise.all([single, ...three].map((node) => node.stop()))
  })

  it('naive find-then-insert creates duplicates (the race is real, the test can fail)', async () => {
    const fixture = await itemsFixture(32)
    try {
      const outcomes: RaceOutcome[] = await Promise.all(
        slugs.flatMap((slug) =>
          Array.from({ length: CALLERS }, async () => {
            const found = await fixture.store.find({ slug })
            if (found) return { key: slug, id: found.id, created: false }
            const row = await fixture.store.insert({ slug, payload: 'naive' })
            return { key: slug, id: row.id, created: true }
          }),
        ),
      )
      const rowsByKey = await fixture.countBySlug()
      const violations = raceViolations({ keys: slugs, callersPerKey: CALLERS, outcomes, rowsByKey })
      expect(violations.length).toBeGreaterThan(0)
      expect(await fixture.total()).toBeGreaterThan(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it('redisLockStrategy, one process, one Redis node: one row, one created:true, one id per key', async () => {
    const fixture = await itemsFixture(32)
    try {
      // One strategy per caller: 50 independent lock contenders per key, as if from 50 processes (callers of
      // one strategy in one process would share one lock acquisition).
      const strategies = Array.from({ length: CALLERS }, () =>
        redisLockStrategy({ clients: client, acquireTimeoutMs: 60_000 }),
      )
      // Count the reads made under the lock, to show the callers really queued on it.
      let readsUnderLock = 0
      const store: typeof fixture.store = {
        ...fixture.store,
        find: (key, opts) => {
          if (opts?.fresh) readsUnderLock++
          return fixture.store.find(key, opts)
        },
      }
      const outcomes: RaceOutcome[] = await Promise.all(
        slugs.flatMap((slug) =>
          strategies.map(async (strategy) => {
            const { row, created } = await getOrCreate(store, { slug }, { payload: 'locked' }, strategy)
            return { key: slug, id: row.id, created }
          }),
        ),
      )
      const rowsByKey = await fixture.countBySlug()
      expect(raceViolations({ keys: slugs, callersPerKey: CALLERS, outcomes, rowsByKey })).toEqual([])
      // Every key's creator read under the lock, and many more callers waited for it and found its row there.
      expect(readsUnderLock).toBeGreaterThan(2 * KEYS)
      expect(await fixture.total()).toBe(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it('redisLockStrategy, four OS processes, three Redis nodes: one row, one created:true, one id per key', async () => {
    const fixture = await itemsFixture(4)
    const perProcess = [13, 13, 12, 12] // 50 callers per key in all
    try {
      const reports = await raceWorkers<{ outcomes: RaceOutcome[]; readsUnderLock: number }>(
        raceWorker,
        perProcess.map((callersPerKey) => ({
          databaseUrl: databaseUrl(),
          table: fixture.name,
          redisUrls: three.map((node) => node.url),
          slugs,
          callersPerKey,
          pool: 8,
        })),
      )
      const outcomes = reports.flatMap((report) => report.outcomes)
      expect(outcomes).toHaveLength(KEYS * CALLERS)
      const rowsByKey = await fixture.countBySlug()
      expect(raceViolations({ keys: slugs, callersPerKey: CALLERS, outcomes, rowsByKey })).toEqual([])
      expect(await fixture.total()).toBe(KEYS)
      // Every key's creator read under the lock, and more callers waited for it and found its row there.
      const readsUnderLock = reports.reduce((sum, report) => sum + report.readsUnderLock, 0)
      expect(readsUnderLock).toBeGreaterThan(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it('getOrCreateMany, four OS processes, three Redis nodes: batches over every key in opposite orders, with single calls, within a 10 s lock budget: one row, one created:true, one id per key, no deadlock', async () => {
    const fixture = await itemsFixture(4)
    const batches = 4 // per process: as given, reversed, and both rotated
    const callersPerKey = 2 // single calls per key per process
    try {
      const reports = await raceWorkers<{ outcomes: RaceOutcome[]; readsUnderLock: number }>(
        raceWorker,
        Array.from({ length: 4 }, () => ({
          databaseUrl: databaseUrl(),
          table: fixture.name,
          redisUrls: three.map((node) => node.url),
          slugs,
          callersPerKey,
          batches,
          // Two batches that took their locks in different orders would wait for each other until the budget
          // ran out: LOCK_UNAVAILABLE, which fails the run.
          acquireTimeoutMs: 10_000,
          pool: 8,
        })),
      )
      const outcomes = reports.flatMap((report) => report.outcomes)
      const perKey = 4 * (batches + callersPerKey)
      expect(outcomes).toHaveLength(KEYS * perKey)
      const rowsByKey = await fixture.countBySlug()
      expect(raceViolations({ keys: slugs, callersPerKey: perKey, outcomes, rowsByKey })).toEqual([])
      expect(await fixture.total()).toBe(KEYS)
    } finally {
      await fixture.drop()
    }
  })
})
