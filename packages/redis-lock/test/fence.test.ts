import { LockLostError } from '@getorcreate/core'
import { describe, expect, it } from 'vitest'
import { RedlockClient } from '../src/lock/redlock-client.js'
import { FENCE_SCRIPT } from '../src/lock/scripts.js'
import { expectIncreasing, owner, ready, subset, TTL_MS, unreachable } from './support/fence-owners.js'
import { nodesForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

const nodes = nodesForThisFile()

failOnUnhandledRejections(100)

describe('fencing tokens', () => {
  it('a node that misses round 1 and answers round 2 ahead of the others does not give the token: a later owner without that node draws a larger one', async () => {
    const [a, b, c] = await nodes(3)
    const [ca, cb, cc] = await Promise.all([a!.client(), b!.client(), c!.client()])
    const key = 'fence:{ahead}'
    const counter = `${key}:fence`
    // Node C's counter is ahead of A's and B's (C's clock ran ahead, or fences that failed on A and B moved it).
    const ahead = (Date.now() + 3_600_000) * 1_000
    await cc!.set(counter, String(ahead))
    // The nodes know the script (as after earlier fences): a late round 1 on C runs, not NOSCRIPT.
    for (const client of [ca!, cb!, cc!]) await client.script('LOAD', FENCE_SCRIPT.source)
    const first = new RedlockClient({ clients: [ca!, cb!, cc!], retryIntervalMs: 5, commandTimeoutMs: 1_000 })
    const lock = await first.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 5_000, signals: [] })

    // C is paused (writes, so scripts) during round 1, which times out there; when round 2 reaches A, C is
    // let go: it runs round 1 late (counter = ahead + 1) and answers round 2 with that, in time.
    const pauser = await c!.client()
    const monitor = await (await a!.client({ bounded: false })).monitor()
    const roundTwoOnA = new Promise<void>((resolve) => {
      monitor.on('monitor', (_time: string, args: string[]) => {
        const [name, script] = args
        const fence = script === FENCE_SCRIPT.sha1 || script === FENCE_SCRIPT.source
        if ((name === 'evalsha' || name === 'eval') && fence && args[7] === '0') resolve()
      })
    })
    await pauser.call('CLIENT', 'PAUSE', '20000', 'WRITE')
    void roundTwoOnA.then(() => pauser.call('CLIENT', 'UNPAUSE'))
    let token: number
    try {
      token = await first.fence(lock, TTL_MS)
    } finally {
      await pauser.call('CLIENT', 'UNPAUSE') // in case round 2 never came
      monitor.disconnect()
    }
    await first.release(lock)
    // The scenario happened: C ran round 1 late, then answered round 2 with more than the others hold.
    expect(await cc!.get(counter)).toBe(String(ahead + 1))
    const onAB = [Number(await ca!.get(counter)), Number(await cb!.get(counter))]

    // Owners whose quorums differ: each draws more than every earlier one.
    const [offA, offB, offC] = await Promise.all([unreachable(a!), unreachable(b!), unreachable(c!)])
    const tokens = [token]
    for (const clients of [
      [ca!, cb!, offC],
      [offA, cb!, cc!],
      [ca!, offB, cc!],
      [ca!, cb!, offC],
    ]) {
      tokens.push(await owner(clients, key))
    }
    expectIncreasing(tokens)
    // The first owner's token was held by the quorum A, B when it was handed out.
    expect(onAB).toEqual([token, token])
  })

  it.each([1, 3])(
    '%i node(s), every node restarted empty (SIGKILL, started again on its port): tokens still exceed every earlier one',
    async (count) => {
      const group = await nodes(count)
      const live = await Promise.all(group.map((node) => node.client()))
      const off = await Promise.all(group.map((node) => unreachable(node)))
      const key = 'fence:{restart}'
      const tokens: number[] = []
      for (let index = 0; index < 6; index++) tokens.push(await owner(subset(live, off, index), key))
      await Promise.all(group.map((node) => node.restart()))
      await Promise.all(live.map(ready))
      expect(await live[0]!.exists(`${key}:fence`)).toBe(0) // the counter is gone with the node's memory
      for (let index = 0; index < 6; index++) tokens.push(await owner(subset(live, off, index), key))
      expectIncreasing(tokens)
      for (const token of tokens) expect(Number.isSafeInteger(token)).toBe(true)
    },
  )

  it.each([3, 5])(
    '%i nodes: 100 sequential owners, then 200 owners from 16 concurrent contenders, each quorum a different subset, node 0 counting ahead: every token larger than all before it',
    async (count) => {
      const group = await nodes(count)
      const live = await Promise.all(group.map((node) => node.client()))
      const off = await Promise.all(group.map((node) => unreachable(node)))
      const key = `fence:{many-${count}}`
      // Node 0's counter is an hour ahead (as if its clock were): from the first owner whose quorum includes
      // it, the quorum counters, not the clocks, carry the order, also to owners without node 0.
      await live[0]!.set(`${key}:fence`, String((Date.now() + 3_600_000) * 1_000))
      const tokens: number[] = []
      for (let index = 0; index < 100; index++) tokens.push(await owner(subset(live, off, index), key))

      // Concurrent contenders: the lock serializes them, so the order in which they record their tokens (while
      // holding the lock) is the order of ownership.
      let next = 100
      const contender = async (id: number) => {
        while (next < 300) {
          next++
          const clients = subset(live, off, id + next)
          const lock = new RedlockClient({ clients, retryIntervalMs: 5, commandTimeoutMs: 1_000 })
          const held = await lock.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 60_000, signals: [] })
          try {
            tokens.push(await lock.fence(held, TTL_MS))
          } finally {
            await lock.release(held)
          }
        }
      }
      await Promise.all(Array.from({ length: 16 }, (_, id) => contender(id)))
      expect(tokens).toHaveLength(300)
      expectIncreasing(tokens)
    },
  )

  it('a token that would pass 2^53 - 1 is refused on that node, which changes nothing: with no quorum left, LockLostError', async () => {
    const [node] = await nodes(1)
    const client = await node!.client()
    const key = 'fence:{top}'
    await client.set(`${key}:fence`, '9007199254740991')
    const lock = new RedlockClient({ clients: [client], retryIntervalMs: 5, commandTimeoutMs: 1_000 })
    const held = await lock.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 5_000, signals: [] })
    const failed = lock.fence(held, TTL_MS)
    await expect(failed).rejects.toBeInstanceOf(LockLostError)
    await expect(failed).rejects.toThrow(/would pass 2\^53 - 1/)
    expect(await client.get(`${key}:fence`)).toBe('9007199254740991')
    await lock.release(held)
  })

  it('the lock lost between the rounds (deleted on two of three nodes after round 1): no token, LockLostError', async () => {
    const [a, b, c] = await nodes(3)
    const [ca, cb, cc] = await Promise.all([a!.client(), b!.client(), c!.client()])
    for (const client of [ca!, cb!, cc!]) await client.script('LOAD', FENCE_SCRIPT.source)
    const key = 'fence:{between}'
    const lock = new RedlockClient({ clients: [ca!, cb!, cc!], retryIntervalMs: 5, commandTimeoutMs: 1_000 })
    const held = await lock.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 5_000, signals: [] })
    // C is paused, so round 1 waits for C's bound (1 s); meanwhile, once round 1 ran on A and on B, the lock is
    // deleted there. Round 2 then finds it on no node but C, which is paused: no quorum.
    const pauser = await c!.client()
    const monitors = await Promise.all([a!, b!].map(async (node) => (await node.client()).monitor()))
    const roundOneRan = monitors.map(
      (monitor) =>
        new Promise<void>((resolve) => {
          monitor.on('monitor', (_time: string, args: string[]) => {
            if (args[0] === 'evalsha' && args[1] === FENCE_SCRIPT.sha1 && args[7] === '1') resolve()
          })
        }),
    )
    const deleted = Promise.all(roundOneRan).then(() => Promise.all([ca!.del(key), cb!.del(key)]))
    await pauser.call('CLIENT', 'PAUSE', '20000', 'WRITE')
    try {
      await expect(lock.fence(held, TTL_MS)).rejects.toBeInstanceOf(LockLostError)
    } finally {
      await pauser.call('CLIENT', 'UNPAUSE')
      for (const monitor of monitors) monitor.disconnect()
    }
    expect(await deleted).toEqual([1, 1])
    await lock.release(held)
  })
})
