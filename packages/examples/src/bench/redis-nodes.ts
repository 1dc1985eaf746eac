/**
 * Independent Redis nodes for the 3-node (Redlock) cases: `redis-server` processes on free ports, without
 * persistence, stopped by the bench at the end, on error, and on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { connectRedis } from '../redis.js'

/** Running nodes: their URLs, and how to stop them. */
export interface RedisNodes {
  readonly urls: readonly string[]
  /** Stop every node (idempotent). */
  stop(): Promise<void>
  /** Stop every node at once, synchronously (for `process.on('exit')`). */
  kill(): void
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const until = Date.now() + 5_000
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`redis-server for ${url} exited with code ${child.exitCode}: ${output().trim()}`)
    }
    try {
      const client = await connectRedis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 }, 500)
      client.disconnect()
      return
    } catch (error) {
      if (Date.now() > until) throw error
      await sleep(50)
    }
  }
}

/**
 * Start `count` independent `redis-server --port N --save "" --appendonly no` processes.
 *
 * @throws Error when `redis-server` is not installed or a node does not answer within 5 s (nodes already
 *   started are stopped first).
 */
export async function startRedisNodes(count: number): Promise<RedisNodes> {
  const children: ChildProcess[] = []
  const urls: string[] = []
  const kill = () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  const stop = async () => {
    const exits = children
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => new Promise((resolve) => child.once('exit', resolve)))
    kill()
    await Promise.race([Promise.all(exits), sleep(3_000)])
  }
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort()
      const url = `redis://127.0.0.1:${port}`
      let output = ''
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      children.push(child)
      child.stdout?.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-2_000)
      })
      child.stderr?.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-2_000)
      })
      const spawned = await new Promise<Error | undefined>((resolve) => {
        child.once('spawn', () => resolve(undefined))
        child.once('error', (error) => resolve(error))
      })
      if (spawned) {
        throw new Error(
          `Cannot start redis-server (${spawned.message}): install Redis (apt-get install redis-server) for the 3-node cases.`,
        )
      }
      await waitUntilReady(url, child, () => output)
      urls.push(url)
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { urls, stop, kill }
}
