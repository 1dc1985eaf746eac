/**
 * A throwaway Redis Cluster: three `redis-server --cluster-enabled yes` masters on free ports, no replicas, no
 * persistence, joined by `redis-cli --cluster create`; every process killed and its directory removed after
 * the test file.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import { freePort } from '@getorcreate/test-support/redis-nodes'
import { Cluster, Redis } from 'ioredis'

const run = promisify(execFile)

/** A started cluster: the ports of its masters, and a `Cluster` client of it. */
export interface TestCluster {
  readonly ports: readonly number[]
  /** A ready `Cluster` client with `options` (the strategy's safe settings by default); closed by `stop`. */
  client(options?: ConstructorParameters<typeof Cluster>[1]): Promise<Cluster>
  /** Close the clients, kill the nodes, remove their directory. */
  stop(): Promise<void>
}

async function untilAnswers(port: number, within: number): Promise<void> {
  const until = Date.now() + within
  for (;;) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null })
    probe.on('error', () => undefined)
    try {
      await probe.connect()
      await probe.ping()
      return
    } catch (error) {
      if (Date.now() > until) throw error
      await delay(50)
    } finally {
      probe.disconnect()
    }
  }
}

/** Starts a 3-master cluster; when it cannot, stops what it started and throws. */
export async function startCluster(): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'getorcreate-redis-cluster-'))
  const processes: ChildProcess[] = []
  const clients: Cluster[] = []
  const stop = async () => {
    for (const client of clients) client.disconnect()
    await Promise.all(
      processes.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.kill('SIGKILL')
        await exited
      }),
    )
    await rm(dir, { recursive: true, force: true })
  }
  try {
    return await joined(dir, processes, clients, stop)
  } catch (error) {
    await stop()
    throw error
  }
}

async function joined(
  dir: string,
  processes: ChildProcess[],
  clients: Cluster[],
  stop: () => Promise<void>,
): Promise<TestCluster> {
  const ports = await Promise.all([freePort(), freePort(), freePort()])
  for (const port of ports) {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`))
    processes.push(spawn('redis-server', args, { cwd: dir, stdio: 'ignore' }))
  }
  await Promise.all(ports.map((port) => untilAnswers(port, 5_000)))
  const addresses = ports.map((port) => `127.0.0.1:${port}`)
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'])
  // Every node agrees that all slots are served before a client is made.
  for (const port of ports) {
    const node = new Redis({ port, host: '127.0.0.1' })
    try {
      const until = Date.now() + 10_000
      while (!String(await node.cluster('INFO')).includes('cluster_state:ok')) {
        if (Date.now() > until) throw new Error(`the cluster on ${addresses.join(', ')} is not ok after 10 s`)
        await delay(100)
      }
    } finally {
      node.disconnect()
    }
  }
  return {
    ports,
    async client(options = { redisOptions: { maxRetriesPerRequest: 0 } }) {
      const client = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], options)
      client.on('error', () => undefined)
      clients.push(client)
      if (client.status !== 'ready') await once(client, 'ready')
      return client
    },
    stop,
  }
}
