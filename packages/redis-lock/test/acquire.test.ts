/**
 * Acquisition retries: every attempt takes a token of its own, so the give-back of a failed attempt (sent
 * without waiting, and resent as EVAL a round trip later when a node answers NOSCRIPT) can never delete the
 * lock a later attempt of the same call took.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { type RedisNode, startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedlockClient } from '../src/lock/redlock-client.js'
import { ACQUIRE_SCRIPT } from '../src/lock/scripts.js'

let nodes: RedisNode[]
let clients: Redis[]
let admin: Redis

beforeAll(async () => {
  nodes = await startRedisNodes(3)
  clients = await Promise.all(nodes.map((node) => node.client()))
  admin = await nodes[0]!.client({ bounded: false })
})
afterAll(async () => {
  await Promise.all(nodes.map((node) => node.stop()))
})

it('retries with a new token each time, and the lock it ends with is its own on a quorum', async () => {
  const key = `getorcreate:lock:{retry-${Date.now()}}`
  // Another owner holds the key on two of three nodes for 300 ms: the first attempts get node 1 only.
  await Promise.all(
    nodes.slice(1).map(async (node) => (await node.client()).set(key, 'someone-else', 'PX', 300)),
  )
  // No script loaded anywhere: every first EVALSHA meets NOSCRIPT and is resent as EVAL.
  await Promise.all(clients.map((client) => client.script('FLUSH')))
  const monitor = await admin.monitor()
  const acquires: string[] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    const [command, script, , lockKey, token] = args
    if (lockKey !== key) return
    const isAcquire =
      (command?.toLowerCase() === 'evalsha' && script === ACQUIRE_SCRIPT.sha1) ||
      (command?.toLowerCase() === 'eval' && script === ACQUIRE_SCRIPT.source)
    if (isAcquire && token) acquires.push(token)
  })
  await delay(50)
  try {
    const client = new RedlockClient({ clients, retryIntervalMs: 20, commandTimeoutMs: 1_000 })
    const lock = await client.acquire(key, { ttlMs: 5_000, acquireTimeoutMs: 5_000, signals: [] })
    await delay(100) // let the give-backs of the failed attempts land, late ones included
    expect(acquires.length).toBeGreaterThan(1) // it had to retry
    // EVALSHA + its EVAL fallback carry the same token; distinct attempts never do.
    const attempts = new Set(acquires)
    expect(attempts.size).toBeGreaterThan(1)
    expect([...attempts].at(-1)).toBe(lock.token)
    const holders = await Promise.all(clients.map((redis) => redis.get(key)))
    expect(holders.filter((holder) => holder === lock.token).length).toBeGreaterThanOrEqual(2)
    await client.release(lock)
  } finally {
    monitor.disconnect()
  }
})
