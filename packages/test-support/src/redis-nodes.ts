/**
 * Throwaway `redis-server` processes on free ports, without persistence: for the Redlock cases (several
 * independent nodes) and for the tests that kill, pause or flush a node. Apart from the package's main entry
 * because it loads ioredis.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { Redis, type RedisOptions } from 'ioredis'

/** A port nothing listens on right now (bind port 0 on 127.0.0.1, read it, close). */
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

/** Options of {@link RedisNode.start}. */
export interface RedisNodeOptions {
  /** Allow `DEBUG` (e.g. `DEBUG SLEEP`, to hang a node) from localhost. Default: true (Redis 7+). */
  readonly debugCommand?: boolean
  /** How long it may take to answer a PING. Default: 5 s. */
  readonly readyTimeoutMs?: number
}

/** Spawn `redis-server` on `port` and wait until it answers; throws, having killed it, when it does not. */
async function spawnNode(port: number, options: RedisNodeOptions): Promise<ChildProcess> {
  const { debugCommand = true, readyTimeoutMs = 5_000 } = options
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  if (debugCommand) args.push('--enable-debug-command', 'local')
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined))
    child.once('error', (error) => resolve(error))
  })
  if (spawned) {
    throw new Error(
      `Cannot start redis-server (${spawned.message}): install Redis (apt-get install redis-server).`,
    )
  }
  const until = Date.now() + readyTimeoutMs
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}: ${output.trim()}`)
    }
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null })
    probe.on('error', () => undefined)
    try {
      await probe.connect()
      await probe.ping()
      return child
    } catch (error) {
      if (Date.now() > until) {
        await killAndWait(child)
        throw error
      }
      await delay(50)
    } finally {
      probe.disconnect()
    }
  }
}

/** SIGKILL `child` and wait until it has exited (at once if it already has). */
async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/** One `redis-server` started for a test or a benchmark. */
export class RedisNode {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number
  readonly #options: RedisNodeOptions
  #process: ChildProcess
  readonly #clients: Redis[] = []

  private constructor(port: number, child: ChildProcess, options: RedisNodeOptions) {
    this.port = port
    this.#process = child
    this.#options = options
  }

  /**
   * Start a node (`--save "" --appendonly no`) on a free port and wait until it answers. Throws, having
   * stopped it, when `redis-server` is not installed, exits, or does not answer in time.
   */
  static async start(options: RedisNodeOptions = {}): Promise<RedisNode> {
    const port = await freePort()
    return new RedisNode(port, await spawnNode(port, options), options)
  }

  /**
   * Kill the process (SIGKILL) and start a new one on the same port, empty (nothing is saved): a node that
   * crashed and came back without its keys or scripts. The clients made by {@link client} reconnect by
   * themselves (their retry strategy); wait for their `ready` before using them.
   */
  async restart(): Promise<void> {
    await this.kill()
    this.#process = await spawnNode(this.port, this.#options)
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /**
   * A client for the lock, ready; {@link stop} closes it. `bounded` (the default) is the recommended setup:
   * no offline queue, and `maxRetriesPerRequest: 0`, so a command cut off by a dropped connection fails
   * instead of being resent once reconnected; `bounded: false` keeps ioredis's defaults (offline queue, 20
   * retries, resends), the worst case, which the lock strategy refuses.
   */
  async client(options: { bounded?: boolean } & RedisOptions = {}): Promise<Redis> {
    const { bounded = true, ...rest } = options
    const settings: RedisOptions = bounded
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 0, ...rest }
      : rest
    const client = new Redis({ port: this.port, host: '127.0.0.1', retryStrategy: () => 100, ...settings })
    client.on('error', () => undefined)
    this.#clients.push(client)
    if (client.status !== 'ready') await once(client, 'ready')
    return client
  }

  /** Kill the process (SIGKILL) and wait until it has exited: the node is down, its port refuses connections. */
  async kill(): Promise<void> {
    await killAndWait(this.#process)
  }

  /**
   * Send `signal` to the process (`SIGSTOP` freezes the node: its port still accepts connections but nothing
   * answers; `SIGCONT` thaws it). False when it has exited.
   */
  signal(signal: NodeJS.Signals): boolean {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return false
    return this.#process.kill(signal)
  }

  /** Kill the process (SIGKILL) without waiting: for `process.on('exit')`, where nothing can be awaited. */
  killNow(): void {
    if (this.#process.exitCode === null && this.#process.signalCode === null) this.#process.kill('SIGKILL')
  }

  /** Close every client made by {@link client}, then kill the process. */
  async stop(): Promise<void> {
    for (const client of this.#clients) client.disconnect()
    await this.kill()
  }
}

/** Start `count` nodes at once; when one cannot start, the others are stopped and its error is thrown. */
export async function startRedisNodes(count: number, options: RedisNodeOptions = {}): Promise<RedisNode[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => RedisNode.start(options)))
  const nodes = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) {
    await Promise.all(nodes.map((node) => node.stop()))
    throw failed.reason
  }
  return nodes
}
