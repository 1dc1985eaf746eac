/** Throwaway `redis-server` processes on free ports, so tests can kill and pause nodes. */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { Redis, type RedisOptions } from 'ioredis'

/** A port nothing listens on right now (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

/** One `redis-server` started by a test. */
export class RedisNode {
  readonly port: number
  readonly #process: ChildProcess
  readonly #clients: Redis[] = []

  private constructor(port: number, child: ChildProcess) {
    this.port = port
    this.#process = child
  }

  /** Start a node with no persistence and `DEBUG` allowed from localhost. */
  static async start(): Promise<RedisNode> {
    const port = await freePort()
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'].concat([
        '--enable-debug-command',
        'local',
      ]),
      { stdio: 'ignore' },
    )
    const node = new RedisNode(port, child)
    for (let i = 0; ; i++) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null })
      probe.on('error', () => undefined)
      try {
        await probe.connect()
        await probe.ping()
        break
      } catch (error) {
        if (i > 100) {
          await node.kill()
          throw error
        }
        await delay(50)
      } finally {
        probe.disconnect()
      }
    }
    return node
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /**
   * A client for the lock, ready. `bounded` (the default) is the recommended setup: no offline queue, one
   * retry; `bounded: false` keeps ioredis's defaults (offline queue, 20 retries), the worst case.
   */
  async client(options: { bounded?: boolean } & RedisOptions = {}): Promise<Redis> {
    const { bounded = true, ...rest } = options
    const settings: RedisOptions = bounded
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...rest }
      : rest
    const client = new Redis({ port: this.port, host: '127.0.0.1', retryStrategy: () => 100, ...settings })
    client.on('error', () => undefined)
    this.#clients.push(client)
    if (client.status !== 'ready') await once(client, 'ready')
    return client
  }

  /** Kill the process (SIGKILL): the node is down, its port refuses connections. */
  async kill(): Promise<void> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return
    const exited = once(this.#process, 'exit')
    this.#process.kill('SIGKILL')
    await exited
  }

  /** Kill the process and close every client made by {@link client}. */
  async stop(): Promise<void> {
    for (const client of this.#clients) client.disconnect()
    await this.kill()
  }
}

/** Start `count` nodes at once. */
export function startNodes(count: number): Promise<RedisNode[]> {
  return Promise.all(Array.from({ length: count }, () => RedisNode.start()))
}
