import { encodeKey, memoryStore, type Strategy } from '@getorcreate/core'
import { type ConformanceShape, type ConformanceStore, runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'

/**
 * The suite in its lock-strategy mode, on stores with no unique index at all: a process-local lock per key
 * (what `redisLockStrategy` does across processes) must keep one row per key by itself.
 */
function localLockStrategy(): Strategy {
  const tails = new Map<string, Promise<void>>()
  return {
    name: 'local-lock',
    async getOrCreate(store, key, values) {
      const found = await store.find(key)
      if (found !== undefined) return { row: found, created: false }
      const id = encodeKey(store.name, key as Record<string, unknown>)
      const previous = tails.get(id) ?? Promise.resolve()
      let release: () => void = () => {}
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      const tail = previous.then(() => held)
      tails.set(id, tail)
      await previous
      try {
        const winner = await store.find(key, { fresh: true })
        if (winner !== undefined) return { row: winner, created: false }
        return { row: await store.insert(await values()), created: true }
      } finally {
        release()
        if (tails.get(id) === tail) tails.delete(id)
      }
    },
  }
}

async function lockedMemoryTable(shape: ConformanceShape) {
  // No uniqueBy: nothing in the store stops duplicates of the key; only `email` is unique (NULLs distinct).
  const inner = memoryStore<Record<string, unknown>>({ autoIncrement: 'id' })
  const store: ConformanceStore = Object.assign(Object.create(null), inner, {
    fields: ['id', 'prefix', 'slug', 'email', 'title'],
  })
  if (shape === 'unique') {
    store.insert = async (values, opts) => {
      if (values.email != null && inner.rows().some((row) => row.email === values.email)) {
        throw Object.assign(new Error('duplicate email'), { code: 'UNIQUE_VIOLATION' })
      }
      return inner.insert(values, opts)
    }
    const { insert } = store
    store.insertIfAbsentUnderLock = async (key, values) =>
      (await inner.find(key)) === undefined ? insert(values) : undefined
  }
  return {
    store,
    count: async (where: Record<string, unknown> = {}) =>
      inner
        .rows()
        .filter((row) => Object.entries(where).every(([field, value]) => (row[field] ?? null) === value))
        .length,
    insertBehind: async (values: Record<string, unknown>) => void (await inner.insert(values)),
  }
}

runStoreConformance(
  { describe, test, expect },
  {
    name: 'memoryStore without unique keys + a local lock strategy',
    table: lockedMemoryTable,
    strategy: localLockStrategy(),
    enforcedBy: 'strategy',
    nullKeys: 'allowed',
    // memoryStore without uniqueBy: no insertIfAbsentAtomically, which the lock makes unnecessary.
    members: ['insertIfAbsentUnderLock', 'uniqueIndexFix', 'update'],
  },
)
