/**
 * How far past `acquireTimeoutMs` a caller that cannot take the lock gives up, on real `redis-server` nodes:
 * within `acquireTimeoutMs` + {@link SLACK_MS}, over several runs each, where the retry interval (1 s, so
 * waits of 0.5–1.5 s) is far longer than the budget and the slack. The wait before an attempt is cut to what is
 * left of the budget, and an attempt's bound to what is left (but never under 100 ms, or `commandTimeoutMs`
 * if less): so a caller gives up at the deadline plus one round trip, or at most 100 ms past it when a node
 * does not answer. Cases: a lock held by another owner on 1 node and on 3 nodes (`getOrCreate` and
 * `getOrCreateMany`), one hung node (`DEBUG SLEEP`) with the default 1 s `commandTimeoutMs`, and a caller that
 * waits for another call of its process that holds the lock.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, getOrCreateMany, isGetOrCreateError, memoryStore } from '@getorcreate/core'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { nodesForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

const nodes = nodesForThisFile()
failOnUnhandledRejections(100)

const BUDGET_MS = 300
/** What a caller may take past `acquireTimeoutMs`: a round trip, the 100 ms floor, and a loaded machine. */
const SLACK_MS = 150
/** Waits of 500–1,500 ms between attempts: one of them past the deadline would overrun by far more than the slack. */
const RETRY_INTERVAL_MS = 1_000
const RUNS = 5

type Item = { id: number; slug: string }
const items = () => memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })

/** Milliseconds `body` takes, and what it threw. */
async function timed(body: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now()
  const error = await body().then(
    () => undefined,
    (caught: unknown) => caught,
  )
  return { ms: performance.now() - started, error }
}

function expectUnavailableInBound({ ms, error }: { ms: number; error: unknown }, message: RegExp): void {
  expect(isGetOrCreateError(error) && error.code).toBe('LOCK_UNAVAILABLE')
  expect((error as Error).message).toMatch(message)
  expect(ms).toBeGreaterThanOrEqual(BUDGET_MS - 5)
  expect(ms).toBeLessThanOrEqual(BUDGET_MS + SLACK_MS)
}

/** Another owner's lock on `key` on every client's node, for the whole test. */
async function holdElsewhere(clients: readonly Redis[], key: string): Promise<void> {
  await Promise.all(clients.map((client) => client.set(key, 'another-owner', 'PX', 30_000)))
}

describe(`giving up: within acquireTimeoutMs (${BUDGET_MS} ms) + ${SLACK_MS} ms, retry interval ${RETRY_INTERVAL_MS} ms`, () => {
  it.each([1, 3])('%i node(s), the lock held by another owner: getOrCreate, %#', async (count) => {
    const group = await nodes(count)
    const clients = await Promise.all(group.map((node) => node.client()))
    const admins = await Promise.all(group.map((node) => node.client({ bounded: false })))
    const strategy = redisLockStrategy({
      clients: count === 1 ? clients[0]! : clients,
      acquireTimeoutMs: BUDGET_MS,
      retryIntervalMs: RETRY_INTERVAL_MS,
    })
    const store = items()
    // A first call (the strategy reads the nodes' run_ids at its first lock, with 3 nodes).
    expect((await getOrCreate(store, { slug: 'warm' }, {}, strategy)).created).toBe(true)
    const key = lockKeyFor(store.name, { slug: 'held' })
    await holdElsewhere(admins, key)
    for (let run = 0; run < RUNS; run++) {
      expectUnavailableInBound(
        await timed(() => getOrCreate(store, { slug: 'held' }, {}, strategy)),
        /another caller held it for the whole wait/,
      )
    }
    expect(store.rows().map((row) => row.slug)).toEqual(['warm'])
  })

  it('3 nodes, one lock of a batch held by another owner: getOrCreateMany', async () => {
    const group = await nodes(3)
    const clients = await Promise.all(group.map((node) => node.client()))
    const admins = await Promise.all(group.map((node) => node.client({ bounded: false })))
    const strategy = redisLockStrategy({
      clients,
      acquireTimeoutMs: BUDGET_MS,
      retryIntervalMs: RETRY_INTERVAL_MS,
    })
    const store = items()
    expect((await getOrCreate(store, { slug: 'warm' }, {}, strategy)).created).toBe(true)
    await holdElsewhere(admins, lockKeyFor(store.name, { slug: 'k3' }))
    const batch = Array.from({ length: 6 }, (_, i) => ({ key: { slug: `k${i}` } }))
    for (let run = 0; run < RUNS; run++) {
      expectUnavailableInBound(
        await timed(() => getOrCreateMany(store, batch, strategy)),
        /getOrCreateMany could not take all 6 locks/,
      )
    }
    expect(store.rows().map((row) => row.slug)).toEqual(['warm'])
  })

  it('1 node hung (DEBUG SLEEP), default commandTimeoutMs (1 s): the attempt is cut to the budget', async () => {
    const [node] = await nodes(1)
    const client = await node!.client()
    const sleeper = await node!.client({ bounded: false })
    const strategy = redisLockStrategy({ clients: client, acquireTimeoutMs: BUDGET_MS })
    const store = items()
    expect((await getOrCreate(store, { slug: 'warm' }, {}, strategy)).created).toBe(true)
    void sleeper
      .call('DEBUG', 'SLEEP', String((RUNS * (BUDGET_MS + SLACK_MS) + 1_000) / 1_000))
      .catch(() => undefined)
    await delay(50)
    try {
      for (let run = 0; run < RUNS; run++) {
        expectUnavailableInBound(
          await timed(() => getOrCreate(store, { slug: `hung${run}` }, {}, strategy)),
          /did not answer within/,
        )
      }
    } finally {
      await delay(RUNS * (BUDGET_MS + SLACK_MS) + 1_100) // the node wakes, runs the late acquires and releases
    }
    expect(store.rows().map((row) => row.slug)).toEqual(['warm'])
  })

  it('a caller that waits for another call of its process, which holds the lock for longer', async () => {
    const [node] = await nodes(1)
    const client = await node!.client()
    const strategy = redisLockStrategy({
      clients: client,
      acquireTimeoutMs: BUDGET_MS,
      retryIntervalMs: RETRY_INTERVAL_MS,
    })
    const store = items()
    for (let run = 0; run < RUNS; run++) {
      let release!: () => void
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      let entered!: () => void
      const holding = new Promise<void>((resolve) => {
        entered = resolve
      })
      const slug = `slow${run}`
      const leader = getOrCreate(
        store,
        { slug },
        async () => {
          entered()
          await gate
          return {}
        },
        strategy,
      )
      await holding
      expectUnavailableInBound(
        await timed(() => getOrCreate(store, { slug }, {}, strategy)),
        /another call in this process held it/,
      )
      release()
      expect((await leader).created).toBe(true)
    }
    expect(store.rows()).toHaveLength(RUNS)
  })
})
