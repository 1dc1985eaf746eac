/**
 * The race the strategy exists for: a Postgres table with no unique index, through drizzleStore, 200 keys ×
 * 50 callers at once, in one process and from four OS processes; and the same race without the lock.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { databaseUrl, itemsFixture, type Outcome, raceViolations } from './support/postgres.js'
import { RedisNode, startNodes } from './support/redis-nodes.js'

const KEYS = 200
const CALLERS = 50
const slugs = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
const packageDir = fileURLToPath(new URL('..', import.meta.url))
const raceWorker = fileURLToPath(new URL('./workers/race-worker.ts', import.meta.url))

describe(`race: ${KEYS} keys × ${CALLERS} callers at once, table without a unique index`, () => {
  let single: RedisNode
  let three: RedisNode[]
  let client: Redis
  beforeAll(async () => {
    single = await RedisNode.start()
    three = await startNodes(3)
    client = await single.client()
  })
  afterAll(async () => {
    await Promise.all([single, ...three].map((node) => node.stop()))
  })

  it('naive find-then-insert creates duplicates (the race is real, the test can fail)', async () => {
    const fixture = await itemsFixture(32)
    try {
      const outcomes: Outcome[] = await Promise.all(
        slugs.flatMap((slug) =>
          Array.from({ length: CALLERS }, async () => {
            const found = await fixture.store.find({ slug })
            if (found) return { slug, id: found.id, created: false }
            const row = await fixture.store.insert({ slug, payload: 'naive' })
            return { slug, id: row.id, created: true }
          }),
        ),
      )
      const violations = raceViolations(slugs, CALLERS, outcomes, await fixture.countBySlug())
      expect(violations.length).toBeGreaterThan(0)
      expect(await fixture.total()).toBeGreaterThan(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it('redisLockStrategy, one process, one Redis node: one row, one created:true, one id per key', async () => {
    const fixture = await itemsFixture(32)
    try {
      // One strategy per caller: 50 independent lock contenders per key, as if from 50 processes (callers of
      // one strategy in one process would share one lock acquisition).
      const strategies = Array.from({ length: CALLERS }, () =>
        redisLockStrategy({ clients: client, acquireTimeoutMs: 60_000 }),
      )
      // Count the reads made under the lock, to show the callers really queued on it.
      let readsUnderLock = 0
      const store: typeof fixture.store = {
        ...fixture.store,
        find: (key, opts) => {
          if (opts?.fresh) readsUnderLock++
          return fixture.store.find(key, opts)
        },
      }
      const outcomes: Outcome[] = await Promise.all(
        slugs.flatMap((slug) =>
          strategies.map(async (strategy) => {
            const { row, created } = await getOrCreate(store, { slug }, { payload: 'locked' }, strategy)
            return { slug, id: row.id, created }
          }),
        ),
      )
      expect(raceViolations(slugs, CALLERS, outcomes, await fixture.countBySlug())).toEqual([])
      // Every key's creator read under the lock, and many more callers waited for it and found its row there.
      expect(readsUnderLock).toBeGreaterThan(2 * KEYS)
      expect(await fixture.total()).toBe(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it('redisLockStrategy, four OS processes, three Redis nodes: one row, one created:true, one id per key', async () => {
    const fixture = await itemsFixture(4)
    const perProcess = [13, 13, 12, 12] // 50 callers per key in all
    const children: ChildProcess[] = []
    try {
      const outputs = perProcess.map((callersPerKey) => {
        const config = {
          databaseUrl: databaseUrl(),
          table: fixture.name,
          redisUrls: three.map((node) => node.url),
          slugs,
          callersPerKey,
          pool: 8,
        }
        const child = spawn(
          process.execPath,
          ['--conditions=@getorcreate/source', '--import', 'tsx', raceWorker, JSON.stringify(config)],
          {
            cwd: packageDir,
            stdio: ['pipe', 'pipe', 'inherit'],
          },
        )
        children.push(child)
        let text = ''
        child.stdout?.setEncoding('utf8')
        const ready = new Promise<void>((resolve) => {
          child.stdout?.on('data', (chunk: string) => {
            text += chunk
            if (text.includes('ready\n')) resolve()
          })
        })
        const exited = once(child, 'exit').then(([code]) => {
          if (code !== 0) throw new Error(`race worker exited with ${String(code)}`)
          const line = text.split('\n').find((candidate) => candidate.startsWith('result '))
          if (!line) throw new Error('race worker printed no result')
          return JSON.parse(line.slice('result '.length)) as { outcomes: Outcome[]; readsUnderLock: number }
        })
        return { child, ready, exited }
      })
      await Promise.all(outputs.map((output) => output.ready))
      for (const { child } of outputs) child.stdin?.write('go\n')
      const settled = await Promise.allSettled(outputs.map((output) => output.exited))
      const failed = settled.find((result) => result.status === 'rejected')
      if (failed) throw failed.reason
      const reports = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
      const outcomes = reports.flatMap((report) => report.outcomes)
      expect(outcomes).toHaveLength(KEYS * CALLERS)
      expect(raceViolations(slugs, CALLERS, outcomes, await fixture.countBySlug())).toEqual([])
      expect(await fixture.total()).toBe(KEYS)
      // Every key's creator read under the lock, and more callers waited for it and found its row there.
      const readsUnderLock = reports.reduce((sum, report) => sum + report.readsUnderLock, 0)
      expect(readsUnderLock).toBeGreaterThan(KEYS)
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
      await fixture.drop()
    }
  })
})
