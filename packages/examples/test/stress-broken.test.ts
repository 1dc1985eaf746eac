import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import {
  constraintStrategy,
  getOrCreate,
  LockUnavailableError,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { runConcurrently, SQLITE_DIR_PREFIX, scratchName, shuffledCalls } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { check, type Verdict } from '../src/stress/checker.js'
import { Collector } from '../src/stress/collect.js'
import { FLUSH_PREFIX } from '../src/stress/protocol.js'
import { Recorder } from '../src/stress/recorder.js'

// Deliberately broken builds, run for real on a SQLite file (and Redis for the lock), must fail the stress
// checker; the same runs on the real code must pass it.

type Row = { id: number; slug: string; label: string | null }
type Tags = Store<Row, { slug: string }, Partial<Row>>

const dir = mkdtempSync(join(tmpdir(), `${SQLITE_DIR_PREFIX}-${scratchName('broken')}-`))
const client = new Database(join(dir, 'stress.db'))
const db = drizzle({ client })
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true })
const lockPrefix = `${scratchName('lock')}:`

beforeAll(async () => {
  client.pragma('journal_mode = WAL')
  await redis.connect()
})
afterAll(async () => {
  const keys = await redis.keys(`${lockPrefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
  client.close()
  rmSync(dir, { recursive: true, force: true })
})

function tagsTable(unique: boolean) {
  const name = `t_${randomUUID().replaceAll('-', '')}`
  client.exec(`create table ${name} (id integer primary key, slug text not null, label text)`)
  client.exec(`create ${unique ? 'unique ' : ''}index ${name}_slug on ${name} (slug)`)
  const table = sqliteTable(name, {
    id: integer('id').primaryKey(),
    slug: text('slug').notNull(),
    label: text('label'),
  })
  return { name, store: drizzleStore(db, table) as unknown as Tags }
}

/** Not atomic: a find, a pause, then an insert. What a store must never call `insertIfAbsentAtomically`. */
function nonAtomic(store: Tags): Tags {
  return {
    name: store.name,
    find: (key, options) => store.find(key, options),
    insert: (values, options) => store.insert(values, options),
    async insertIfAbsentAtomically(key, values) {
      if (await store.find(key)) return undefined
      await delay(2)
      return store.insert(values)
    },
  }
}

/**
 * A Redis lock (SET NX PX) around find-then-insert. `checkOwner: false` is the broken build: its release
 * deletes the key whoever holds it, so a caller that gave up waiting frees the holder's lock for the next one.
 */
function lockStrategy(checkOwner: boolean): Strategy {
  return {
    name: checkOwner ? 'test-lock' : 'test-lock-release-ignores-owner',
    async getOrCreate(store, key, values) {
      const found = await store.find(key)
      if (found) return { row: found, created: false }
      const lockKey = `${lockPrefix}${JSON.stringify(key)}`
      const owner = randomUUID()
      try {
        // Waits of 10–50 ms: some callers give up while the holder creates, others still wait.
        const until = Date.now() + 10 + Math.random() * 40
        while ((await redis.set(lockKey, owner, 'PX', 5_000, 'NX')) !== 'OK') {
          if (Date.now() > until) throw new LockUnavailableError(`gave up waiting for ${lockKey}`)
          await delay(3)
        }
        const again = await store.find(key, { fresh: true })
        if (again) return { row: again, created: false }
        await delay(60)
        return { row: await store.insert(await values()), created: true }
      } finally {
        if (checkOwner) {
          await redis.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
            1,
            lockKey,
            owner,
          )
        } else await redis.del(lockKey)
      }
    },
  }
}

/** 20 keys × 12 callers, all in flight at once, through the stress run's recorder; the checker's verdict. */
async function race(name: string, store: Tags, strategy: Strategy): Promise<Verdict> {
  const recorder = new Recorder(0)
  const calls = shuffledCalls(
    Array.from({ length: 20 }, (_, i) => `f0_${i}`),
    12,
    42,
  )
  await runConcurrently(calls, calls.length, (slug) =>
    recorder.run(name, slug, 10_000, async () => {
      const { row, created } = await getOrCreate(store, { slug }, { label: slug }, strategy)
      return { id: row.id, created }
    }),
  )
  const collector = new Collector(1)
  collector.take(
    `${FLUSH_PREFIX}${JSON.stringify({ ...recorder.flush(), worker: 0, rss: 0, ended: recorder.ended })}`,
  )
  const counted = client.prepare(`select slug, count(*) as n from ${name} group by slug`).all() as {
    slug: string
    n: number
  }[]
  const rows = new Map([[name, new Map(counted.map((row) => [row.slug, row.n]))]])
  const spec = { name, dialect: 'sqlite' as const, strategy: 'constraint' as const, services: ['sqlite'] }
  return check(collector.history([spec], rows, []))
}

describe('the stress checker on deliberately broken builds', () => {
  test('a store whose insertIfAbsentAtomically is not atomic: duplicates and extra created:true', async () => {
    const { name, store } = tagsTable(false)
    const verdict = await race(name, nonAtomic(store), constraintStrategy({ singleFlight: false }))
    expect(verdict.ok).toBe(false)
    expect(verdict.counts.duplicates).toBeGreaterThan(0)
    expect(verdict.counts.wrongCreated).toBeGreaterThan(0)
  })

  test('the real store under the same race passes', async () => {
    const { name, store } = tagsTable(true)
    const verdict = await race(name, store, constraintStrategy({ singleFlight: false }))
    expect(verdict.violations).toEqual([])
    expect(verdict.counts.calls).toBe(240)
  })

  test('a lock whose release ignores the owner: duplicates', async () => {
    const { name, store } = tagsTable(false)
    const verdict = await race(name, store, lockStrategy(false))
    expect(verdict.ok).toBe(false)
    expect(verdict.counts.duplicates).toBeGreaterThan(0)
  })

  test('the same lock releasing only its own key passes (its give-ups are typed LOCK_UNAVAILABLE)', async () => {
    const { name, store } = tagsTable(false)
    const verdict = await race(name, store, lockStrategy(true))
    expect(verdict.violations).toEqual([])
    expect(verdict.counts.errors).toBeGreaterThan(0)
    expect(Object.keys(verdict.errorsByKind)).toEqual(['LOCK_UNAVAILABLE'])
  })
})
