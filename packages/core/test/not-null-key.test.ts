/** NULL in a key column the table declares NOT NULL: INVALID_KEY before any statement, on every drizzle store. */
import { getOrCreate, InvalidKeyError } from '@getorcreate/core'
import type { ConformanceTable } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable } from './support/conformance-pg.js'
import { mysqlConformanceTable } from './support/mysql.js'
import { sqliteConformanceTable } from './support/sqlite.js'

const STORES: Record<string, () => Promise<ConformanceTable>> = {
  'Postgres (postgres.js)': () => pgConformanceTable('postgres.js', 'unique', 2),
  'Postgres (node-postgres)': () => pgConformanceTable('node-postgres', 'unique', 2),
  PGlite: () => pgConformanceTable('pglite', 'unique'),
  MariaDB: () => mysqlConformanceTable('unique', 2),
  SQLite: () => sqliteConformanceTable('unique'),
}

describe.each(Object.entries(STORES))('%s', (_name, open) => {
  test('a null key in a NOT NULL column is refused before any statement; a nullable one is not', async () => {
    const { store, count, statements, close } = await open()
    try {
      const before = statements!()
      const error = await getOrCreate(store, { slug: null }, { title: 't' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidKeyError)
      expect((error as Error).message).toMatch(/"slug" .* is null, but its column is NOT NULL/)
      expect(statements!()).toBe(before)
      // email is nullable, with a unique index that treats NULLs as distinct: refused by that rule instead,
      // after the catalog read.
      await expect(getOrCreate(store, { email: null })).rejects.toBeInstanceOf(InvalidKeyError)
      expect(statements!()).toBeGreaterThan(before)
      expect(await count()).toBe(0)
    } finally {
      await close?.()
    }
  })
})
