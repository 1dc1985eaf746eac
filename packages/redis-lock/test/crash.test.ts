/** A holder that crashes (its process killed) while holding the lock: the lock outlives it by at most the TTL. */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { databaseUrl, itemsFixture } from './support/postgres.js'
import { RedisNode } from './support/redis-nodes.js'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const holderWorker = fileURLToPath(new URL('./workers/holder-worker.ts', import.meta.url))
const TTL_MS = 1_500

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(async () => {
  await node.stop()
})

it('a holder killed while holding: the next caller gets the lock only after the TTL, and creates the key once', async () => {
  const fixture = await itemsFixture(4)
  const admin = await node.client()
  const config = {
    databaseUrl: databaseUrl(),
    table: fixture.name,
    redisUrl: node.url,
    slug: 'crash',
    ttlMs: TTL_MS,
  }
  const child = spawn(
    process.execPath,
    ['--conditions=@getorcreate/source', '--import', 'tsx', holderWorker, JSON.stringify(config)],
    {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  try {
    child.stdout.setEncoding('utf8')
    let text = ''
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        text += chunk
        if (text.includes('holding\n')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`holder exited early with ${String(code)}`)))
    })
    // Held for longer than one TTL: the holder's process keeps extending it.
    const lockKey = lockKeyFor(fixture.store.name, { slug: 'crash' })
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 300))
    expect(await admin.exists(lockKey)).toBe(1)

    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    const killedAt = Date.now()
    const remaining = await admin.pttl(lockKey)
    expect(remaining).toBeGreaterThan(0)
    expect(remaining).toBeLessThanOrEqual(TTL_MS)

    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const result = await getOrCreate(fixture.store, { slug: 'crash' }, { payload: 'after crash' }, strategy)
    const waited = Date.now() - killedAt
    expect(result.created).toBe(true)
    expect(result.row.payload).toBe('after crash')
    expect(waited).toBeGreaterThanOrEqual(remaining - 20) // not before the dead holder's lock expired
    expect(waited).toBeLessThan(TTL_MS + 1_000)
    expect(await fixture.total()).toBe(1)

    const again = await getOrCreate(fixture.store, { slug: 'crash' }, { payload: 'again' }, strategy)
    expect(again).toEqual({ row: result.row, created: false })
    expect(await fixture.total()).toBe(1)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await fixture.drop()
  }
})
