/**
 * The stress run's network (src/stress/netns.ts) across runs: what a crashed run leaves is removed at the next
 * start, a live run is left alone, two runs at once do not collide, Ctrl-C and SIGTERM remove a run's network,
 * and a machine that does not allow namespaces gets plain processes and the reason. Each run is a process of
 * its own (test/workers/netns-owner.ts) or this one.
 */
import { randomBytes } from 'node:crypto'
import { databaseUrl } from '@getorcreate/test-support'
import { describe, expect, test } from 'vitest'
import { setUpNetwork } from '../src/stress/netns.js'
import { chooseSubnet, rangesInUse, workerAddresses } from '../src/stress/netns-subnet.js'
import type { Network } from '../src/stress/network.js'
import { links, namespaces, runProbe, startOwner } from './support/netns.js'

const root = process.getuid?.() === 0
const pg = new URL(databaseUrl())
const port = Number(pg.port || 5432)
const postgresOnly = [{ name: 'postgres', port }]
const newTag = () => randomBytes(4).toString('hex')
const named = (tag: string) => [...namespaces(), ...links()].filter((name) => name.startsWith(`goc${tag}-`))
const at = (host: string) => Object.assign(new URL(pg), { hostname: host }).href

interface Printed {
  available: boolean
  reason?: string
  workers: Network['workers']
}

/** Another run in a process of its own, with its network printed. */
async function otherRun(tag: string, options: Parameters<typeof startOwner>[3] = {}) {
  const owner = startOwner(tag, 2, [port], options)
  const printed = JSON.parse(await owner.line((line) => line.startsWith('{'))) as Printed
  return { owner, printed }
}

/** Runs `select 1` through a worker of a network for half a second: how many, and the errors. */
async function queriesThrough(worker: Network['workers'][number]) {
  const [result] = await runProbe<{ queries: unknown[]; errors: string[] }>(worker, 'loop', {
    PROBE_PG_URL: at(worker.host),
    PROBE_MS: '500',
  })
  return { some: result.queries.length > 0, errors: result.errors }
}

describe('setUpNetwork across runs', () => {
  test("a crashed run's namespaces and links are removed at the next start, whatever its tag", async () => {
    const crashed = newTag()
    const { owner, printed } = await otherRun(crashed)
    expect(printed.available).toBe(root)
    owner.child.kill('SIGKILL')
    expect((await owner.ended).signal).toBe('SIGKILL')
    expect(named(crashed)).toHaveLength(root ? 4 : 0)
    const next = await setUpNetwork({ workers: 1, services: postgresOnly, tag: newTag() })
    try {
      expect(named(crashed)).toEqual([])
    } finally {
      await next.teardown()
    }
  })

  test('a live run is left alone; two runs at once get blocks of their own and both work; SIGTERM removes its network', async () => {
    const before = await rangesInUse()
    const live = newTag()
    const { owner, printed } = await otherRun(live)
    const tag = newTag()
    const mine = await setUpNetwork({ workers: 2, services: postgresOnly, tag })
    try {
      expect([printed.available, mine.available]).toEqual([root, root])
      expect(named(live)).toHaveLength(root ? 4 : 0)
      if (root) {
        const hosts = [...printed.workers, ...mine.workers].map((worker) => worker.host)
        expect(new Set(hosts).size).toBe(4)
        // Nothing of either block was in use on the machine before.
        const toNumber = (host: string) => host.split('.').reduce((sum, part) => sum * 256 + Number(part), 0)
        for (const host of hosts) {
          expect(
            before.filter((range) => range.first <= toNumber(host) && toNumber(host) <= range.last),
          ).toEqual([])
        }
      }
      for (const worker of [printed.workers[1], mine.workers[0]]) {
        expect(await queriesThrough(worker ?? { prefix: [], host: '' })).toEqual({ some: true, errors: [] })
      }
      await expect(
        setUpNetwork({ workers: 1, services: postgresOnly, tag: root ? tag : 'UPPER' }),
      ).rejects.toMatchObject({
        code: root ? 'NETNS_TAG_IN_USE' : 'NETNS_INVALID_OPTIONS',
      })
    } finally {
      await mine.teardown()
    }
    expect(named(tag)).toEqual([])
    expect(named(live)).toHaveLength(root ? 4 : 0)
    owner.child.kill('SIGTERM')
    const ended = await owner.ended
    expect(ended.signal ?? ended.code).toBe(root ? 'SIGTERM' : 0)
    expect(named(live)).toEqual([])
  })

  test('Ctrl-C (SIGINT) removes the network and still ends the process', async () => {
    const tag = newTag()
    const { owner, printed } = await otherRun(tag)
    expect(printed.available).toBe(root)
    owner.child.kill('SIGINT')
    const ended = await owner.ended
    expect(ended.signal ?? ended.code).toBe(root ? 'SIGINT' : 0)
    expect(named(tag)).toEqual([])
  })

  test('not root: plain processes on 127.0.0.1, and the reason', async () => {
    const { owner, printed } = await otherRun(newTag(), root ? { uid: 65534, gid: 65534 } : {})
    expect((await owner.ended).code).toBe(0)
    expect(printed).toEqual({
      available: false,
      reason: expect.stringMatching(/^not root \(uid \d+\)/),
      workers: [
        { prefix: [], host: '127.0.0.1' },
        { prefix: [], host: '127.0.0.1' },
      ],
    })
  })

  test('no `ip` command: plain processes, and the reason', async () => {
    const env = { ...process.env, PATH: '/nonexistent' }
    const { owner, printed } = await otherRun(newTag(), { env })
    expect((await owner.ended).code).toBe(0)
    expect(printed.available).toBe(false)
    expect(printed.reason).toMatch(root ? /^no `ip` command/ : /^not root/)
  })

  test('options that cannot name links are refused with NETNS_INVALID_OPTIONS', async () => {
    for (const options of [
      { workers: 1, services: postgresOnly, tag: 'has-dash' },
      { workers: 1, services: postgresOnly, tag: 'toolongtag' },
      { workers: 0, services: postgresOnly, tag: 'abc' },
      { workers: 1001, services: postgresOnly, tag: 'abc' },
      { workers: 1, services: [...postgresOnly, ...postgresOnly], tag: 'abc' },
    ]) {
      await expect(setUpNetwork(options)).rejects.toMatchObject({ code: 'NETNS_INVALID_OPTIONS' })
    }
  })
})

describe('chooseSubnet', () => {
  const all10 = { first: 10 * 2 ** 24, last: 11 * 2 ** 24 - 1 }
  const all100 = { first: 100 * 2 ** 24 + 64 * 2 ** 16, last: 100 * 2 ** 24 + 128 * 2 ** 16 - 1 }

  test('never overlaps a range in use, and gives each worker a /30 of the block', () => {
    const inUse = [{ first: 10 * 2 ** 24, last: 10 * 2 ** 24 + 2 ** 23 - 1 }]
    for (let i = 0; i < 1_000; i++) {
      const subnet = chooseSubnet(5, inUse)
      expect(subnet.size).toBe(32)
      expect(subnet.first % 32).toBe(0)
      expect(subnet.first >= 10 * 2 ** 24 + 2 ** 23 || subnet.first >= all100.first).toBe(true)
    }
    expect(workerAddresses({ first: 10 * 2 ** 24, size: 32 }, 4)).toEqual({
      root: '10.0.0.17',
      inside: '10.0.0.18',
    })
  })

  test('takes 100.64.0.0/10 when 10.0.0.0/8 is taken, and refuses when both are', () => {
    const subnet = chooseSubnet(1, [all10])
    expect(subnet.first >= all100.first && subnet.first + subnet.size - 1 <= all100.last).toBe(true)
    expect(() => chooseSubnet(1, [all10, all100])).toThrow(
      expect.objectContaining({ code: 'NETNS_NO_FREE_SUBNET' }),
    )
  })
})
