/**
 * The stress run's network (src/stress/netns.ts) on this machine, for real: namespaces, veths, the forwarder,
 * a cut, the teardown. As root every test checks the namespaces; elsewhere the same tests check what the
 * run does instead (plain processes on 127.0.0.1, and the reason said), never skipping.
 */
import { randomBytes } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { databaseUrl, mysqlUrl } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { setUpNetwork } from '../src/stress/netns.js'
import type { Network } from '../src/stress/network.js'
import { carrier, links, listening, namespaces, runProbe, startProbe } from './support/netns.js'

const root = process.getuid?.() === 0
const pg = new URL(databaseUrl())
const mysql = new URL(mysqlUrl())
const newTag = () => randomBytes(4).toString('hex')
const at = (url: URL, host: string) => Object.assign(new URL(url), { hostname: host }).href

/** The address after `host`: a worker's own end of its /30. */
const next = (host: string) => host.replace(/\d+$/, (last) => String(Number(last) + 1))

let redis: RedisNode
let network: Network
let ports: number[]

beforeAll(async () => {
  redis = await RedisNode.start()
  ports = [Number(pg.port || 5432), Number(mysql.port || 3306), redis.port]
  const names = ['postgres', 'mariadb', 'redis']
  network = await setUpNetwork({
    workers: 2,
    services: ports.map((port, i) => ({ name: names[i] ?? '', port })),
    tag: newTag(),
  })
})

afterAll(async () => {
  await network?.teardown()
  await redis?.stop()
})

describe('setUpNetwork', () => {
  test('gives each worker a namespace of its own as root; elsewhere says why and runs plain processes', () => {
    if (root) {
      expect(network.available, network.reason).toBe(true)
      expect(network.reason).toBeUndefined()
      for (const worker of network.workers) {
        expect(worker.prefix.slice(0, 3)).toEqual(['ip', 'netns', 'exec'])
        expect(worker.host).toMatch(/^(10|100)\.\d+\.\d+\.\d+$/)
      }
      expect(new Set(network.workers.map((worker) => worker.prefix[3])).size).toBe(2)
      expect(new Set(network.workers.map((worker) => worker.host)).size).toBe(2)
    } else {
      expect(network.available).toBe(false)
      expect(network.reason).toMatch(/not root/)
      expect(network.workers).toEqual([
        { prefix: [], host: '127.0.0.1' },
        { prefix: [], host: '127.0.0.1' },
      ])
    }
  })

  test('a worker reaches Postgres, MariaDB and Redis through the forwarder, and nothing else; the forwarder counts its connections', async () => {
    const worker = network.workers[0]
    if (!worker) throw new Error('no worker')
    // The machine's own addresses (the veths' root sides aside) and the other worker's end of the forwarder.
    const hosts = network.workers.map(({ host }) => host)
    const own = Object.values(networkInterfaces()).flatMap((infos) =>
      (infos ?? []).filter((info) => info.family === 'IPv4' && !info.internal).map((info) => info.address),
    )
    const outside = [...own.filter((address) => !hosts.includes(address)), network.workers[1]?.host ?? '']
    const [result, pid] = await runProbe<Record<string, unknown>>(worker, 'reach', {
      PROBE_PG_URL: at(pg, worker.host),
      PROBE_MYSQL_URL: at(mysql, worker.host),
      PROBE_REDIS_URL: at(new URL(redis.url), worker.host),
      PROBE_PORTS: ports.join(','),
      PROBE_OUTSIDE: network.available ? outside.join(',') : '',
    })
    expect(result).toMatchObject({ postgres: 42, mysql: 42, redis: 'forty-two' })
    // The same environment and working directory, and `ip netns exec` replaced itself with node: signals
    // sent to the pid the runner holds (SIGSTOP, SIGKILL) reach the worker.
    expect(result).toMatchObject({ home: process.env.HOME, path: process.env.PATH, pid })
    if (network.available) {
      expect(result.loopback).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED'])
      expect(result.outside).toEqual(outside.map(() => 'ENETUNREACH'))
      expect(result.interfaces).toEqual({ lo: ['127.0.0.1/8', '::1/128'], eth0: [`${next(worker.host)}/30`] })
      // The forwarder took one connection per service on this worker's link, from its end of the link.
      expect(network.connections()).toEqual([
        { from: [next(worker.host)], perService: { postgres: 1, mariadb: 1, redis: 1 } },
        { from: [], perService: {} },
      ])
    } else {
      expect(result.loopback).toEqual(['connected', 'connected', 'connected'])
      expect(network.connections()).toEqual([
        { from: [], perService: {} },
        { from: [], perService: {} },
      ])
    }
  })

  test('the forwarder listens on the root side of each veth at each service port, nowhere else', () => {
    const expected = network.available
      ? network.workers.flatMap((worker) => ports.map((port) => `${worker.host}:${port}`))
      : []
    expect(listening(process.pid).sort()).toEqual(expected.sort())
  })

  test('cut: the query in flight stalls until the link is up, then the same connection carries on', async () => {
    if (!network.available) {
      await expect(network.cut(1, 10)).rejects.toMatchObject({ code: 'NETNS_UNAVAILABLE' })
      return
    }
    const worker = network.workers[1]
    if (!worker) throw new Error('no worker')
    const ms = 3_000
    const probe = startProbe(worker, 'loop', {
      PROBE_PG_URL: at(pg, worker.host),
      PROBE_MS: String(ms + 5_000),
    })
    await probe.line((line) => line === 'ready')
    await sleep(300)
    const called = Date.now()
    const cutting = network.cut(1, ms)
    const namespace = worker.prefix[3] as string
    while (carrier(namespace)) await sleep(5)
    const down = Date.now()
    await cutting
    const back = Date.now()
    expect(carrier(namespace)).toBe(true)
    const { queries, errors } = JSON.parse(await probe.line((line) => line.startsWith('{'))) as {
      queries: [number, number][]
      errors: string[]
    }
    expect((await probe.ended).code).toBe(0)
    // The link is down from `down` at the latest until `called + ms` at the earliest.
    const upNotBefore = called + ms
    expect(down).toBeLessThan(upNotBefore)
    expect(errors).toEqual([])
    expect(queries.filter(([start]) => start < down).length).toBeGreaterThan(0)
    expect(queries.filter(([start, end]) => start >= down && end < upNotBefore)).toEqual([])
    expect(queries.filter(([start, end]) => start < upNotBefore && end >= upNotBefore)).toHaveLength(1)
    expect(queries.filter(([start]) => start >= back).length).toBeGreaterThan(0)
  })

  test('teardown removes every namespace, veth and listener; calling it again does nothing', async () => {
    const tag = newTag()
    const own = await setUpNetwork({
      workers: 2,
      services: [{ name: 'postgres', port: ports[0] ?? 5432 }],
      tag,
    })
    expect(own.available).toBe(root)
    const mine = (names: string[]) => names.filter((name) => name.startsWith(`goc${tag}-`))
    expect(mine(namespaces())).toHaveLength(root ? 2 : 0)
    expect(mine(links())).toHaveLength(root ? 2 : 0)
    const hosts = own.available ? own.workers.map((worker) => `${worker.host}:${ports[0]}`) : []
    expect(listening(process.pid).filter((address) => hosts.includes(address))).toHaveLength(hosts.length)
    await own.teardown()
    expect(mine(namespaces())).toEqual([])
    expect(mine(links())).toEqual([])
    expect(listening(process.pid).filter((address) => hosts.includes(address))).toEqual([])
    await own.teardown()
    if (own.available) await expect(own.cut(0, 10)).rejects.toMatchObject({ code: 'NETNS_NO_SUCH_LINK' })
  })

  test('a service that goes away ends the connections through the forwarder; one made while it is down is reset', async () => {
    const worker = network.workers[0]
    if (!worker) throw new Error('no worker')
    const probe = startProbe(worker, 'hold', { PROBE_HOST: worker.host, PROBE_PORT: String(redis.port) })
    await probe.line((line) => line === 'connected')
    await sleep(200)
    await redis.kill()
    const result = JSON.parse(await probe.line((line) => line.startsWith('{')))
    // Straight to 127.0.0.1 the second would be refused; through the forwarder it opens and is reset at once,
    // never left open.
    expect(result).toEqual({ first: 'end', second: network.available ? 'ECONNRESET' : 'ECONNREFUSED' })
  })
})
