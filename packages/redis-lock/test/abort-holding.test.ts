/**
 * "A signal bounds only the wait: a call that holds the lock runs its create to the end." On a real
 * `redis-server`, over `memoryStore()` and a fenced Postgres `drizzleStore`: the signal is aborted while one
 * call holds the lock and its `defaults` function runs, and two others wait (one on the lock in Redis, through
 * another strategy; one for the holder's call in this process, through the same strategy). The holder still
 * creates the row and resolves `created: true`; each waiter rejects at once with the signal's reason; one row.
 * The same with the strategy's `signal` option and with `withSignal(signal)`.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, memoryStore, type Store } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import type { Redis } from 'ioredis'
import { beforeAll, describe, expect, it } from 'vitest'
import { lockKeyFor, type RedisLockStrategy, redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'
import { nodeForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

const node = nodeForThisFile()
failOnUnhandledRejections(100)

let lockClient: Redis
let admin: Redis
beforeAll(async () => {
  lockClient = await node().client()
  admin = await node().client({ bounded: false })
})

type AnyStore = Store<{ id: number; slug: string }, { slug: string }, Record<string, unknown>>

/** A store, its rows of `slug` counted in the store itself, and its cleanup. */
async function storeOf(kind: 'memory' | 'postgres, fenced') {
  if (kind === 'memory') {
    const store = memoryStore<{ id: number; slug: string; payload?: string }>({
      name: `items-${randomUUID()}`,
      autoIncrement: 'id',
    })
    return {
      store: store as unknown as AnyStore,
      rows: async (slug: string) => store.rows().filter((row) => row.slug === slug).length,
      drop: async () => undefined,
    }
  }
  const fixture = await itemsFixture(4)
  const fences = scratchName('rl_abort_fences')
  await fixture.sql.unsafe(pgFencesSql(fences))
  return {
    store: drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fences) }) as unknown as AnyStore,
    rows: async (slug: string) => (await fixture.countBySlug()).get(slug) ?? 0,
    drop: async () => {
      await fixture.sql.unsafe(`drop table if exists ${fences}`)
      await fixture.drop()
    },
  }
}

/** Two strategies on one node whose waits end with `signal`: by the `signal` option, or by `withSignal`. */
function strategiesWith(
  how: 'signal option' | 'withSignal',
  signal: AbortSignal,
): [RedisLockStrategy, RedisLockStrategy] {
  const make = () =>
    how === 'signal option'
      ? redisLockStrategy({ clients: lockClient, signal, acquireTimeoutMs: 30_000 })
      : redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 30_000 }).withSignal(signal)
  return [make(), make()]
}

describe('an abort signal bounds only the wait', () => {
  it.each([
    ['signal option', 'memory'],
    ['withSignal', 'memory'],
    ['signal option', 'postgres, fenced'],
    ['withSignal', 'postgres, fenced'],
  ] as const)(
    '%s, %s store: aborted while a call holds the lock, that call creates the row (created: true); the waiters reject with the reason',
    async (how, kind) => {
      const { store, rows, drop } = await storeOf(kind)
      try {
        const controller = new AbortController()
        const [holderStrategy, otherStrategy] = strategiesWith(how, controller.signal)
        const slug = `s-${randomUUID()}`
        const lockKey = lockKeyFor(store.name, { slug })
        let entered!: () => void
        const holding = new Promise<void>((resolve) => {
          entered = resolve
        })
        let defaultsFinished = false
        const holder = getOrCreate(
          store,
          { slug },
          async () => {
            entered()
            // The abort comes while this runs, under the lock; the create goes on to its end.
            await delay(400)
            defaultsFinished = true
            return { payload: 'holder' }
          },
          holderStrategy,
        )
        await holding
        expect(await admin.exists(lockKey)).toBe(1)
        // Waiting on the lock in Redis (another strategy: an independent contender).
        const onLock = getOrCreate(store, { slug }, { payload: 'waiter' }, otherStrategy).catch(
          (error: unknown) => error,
        )
        // Waiting for the holder's call in this process (same strategy and store: the single flight).
        const joined = getOrCreate(store, { slug }, { payload: 'joined' }, holderStrategy).catch(
          (error: unknown) => error,
        )
        await delay(100)
        const abortedAt = performance.now()
        controller.abort()
        const [onLockError, joinedError] = await Promise.all([onLock, joined])
        const waitersSettledAfter = performance.now() - abortedAt
        expect(onLockError).toBe(controller.signal.reason)
        expect(joinedError).toBe(controller.signal.reason)
        expect((onLockError as Error).name).toBe('AbortError')
        // At once, not when the holder lets the lock go.
        expect(defaultsFinished).toBe(false)
        expect(waitersSettledAfter).toBeLessThan(200)

        const result = await holder
        expect(defaultsFinished).toBe(true)
        expect(result.created).toBe(true)
        expect(result.row.slug).toBe(slug)
        expect(await rows(slug)).toBe(1)
        // The holder released its lock as usual.
        await delay(100)
        expect(await admin.exists(lockKey)).toBe(0)
      } finally {
        await drop()
      }
    },
  )
})
