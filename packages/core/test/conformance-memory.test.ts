import { memoryStore } from '@getorcreate/core'
import { type ConformanceShape, type ConformanceStore, runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'

const FIELDS = ['id', 'prefix', 'slug', 'email', 'title']
const UNIQUE_BY: Record<ConformanceShape, string[][]> = {
  unique: [['slug']],
  composite: [['prefix', 'slug']],
  'no-unique': [],
  nullable: [['slug']],
}

async function memoryTable(shape: ConformanceShape) {
  const inner = memoryStore<Record<string, unknown>>({ uniqueBy: UNIQUE_BY[shape], autoIncrement: 'id' })
  const store: ConformanceStore = Object.assign(Object.create(null), inner, { fields: FIELDS })
  if (shape === 'unique' && inner.insertIfAbsentAtomically) {
    const insertIfAbsentAtomically = inner.insertIfAbsentAtomically
    // The "other unique constraint": email, NULLs distinct (memoryStore's uniqueBy treats NULL as equal to NULL).
    const checkEmail = (values: Record<string, unknown>) => {
      if (values.email != null && inner.rows().some((row) => row.email === values.email)) {
        throw Object.assign(new Error('duplicate email'), { code: 'UNIQUE_VIOLATION' })
      }
    }
    store.insertIfAbsentAtomically = async (key, values) => {
      checkEmail(values)
      return insertIfAbsentAtomically(key, values)
    }
    store.insert = async (values, opts) => {
      checkEmail(values)
      return inner.insert(values, opts)
    }
    const insertIfAbsentUnderLock = inner.insertIfAbsentUnderLock
    store.insertIfAbsentUnderLock = async (key, values) => {
      checkEmail(values)
      return insertIfAbsentUnderLock(key, values)
    }
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
    name: 'memoryStore',
    table: memoryTable,
    nullKeys: 'allowed',
    members: ['insertIfAbsentUnderLock', 'uniqueIndexFix', 'update'],
  },
)
