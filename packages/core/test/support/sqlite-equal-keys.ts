/**
 * Keys SQLite treats as equal though JavaScript does not, as `runStoreConformance`'s `equalKeys`: the
 * built-in collations (NOCASE folds A–Z, RTRIM ignores trailing spaces), numeric affinity (number text is
 * stored as a number), and drizzle's `timestamp` mode (a Date in whole seconds).
 */
import { join } from 'node:path'
import { drizzleStore } from '@getorcreate/core/drizzle'
import type { ConformanceStore, ConformanceTable, EqualKeys } from '@getorcreate/core/testing'
import { scratchName } from '@getorcreate/test-support'
import { integer, numeric, type SQLiteColumnBuilderBase, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { openSqlite, tempDir } from './sqlite.js'

/** One key column: its DDL and its drizzle declaration. */
interface KeyColumn {
  readonly ddl: string
  readonly column: () => SQLiteColumnBuilderBase
}

/**
 * A fresh WAL file with a table `(id, k <spec>, title)` and a `drizzleStore` over it; with `unique`, `k` has
 * a unique index (the constraint strategy's case), else a plain one (a lock strategy's).
 */
async function keyTable(spec: KeyColumn, unique: boolean): Promise<ConformanceTable> {
  const temp = tempDir()
  const h = openSqlite(join(temp.dir, 'keys.db'))
  const name = scratchName('eqk')
  h.client.exec(`create table ${name} (id integer primary key, k ${spec.ddl}, title text);
    create ${unique ? 'unique ' : ''}index ${name}_k on ${name} (k)`)
  const table = sqliteTable(name, { id: integer('id').primaryKey(), k: spec.column(), title: text('title') })
  return {
    store: drizzleStore(h.db, table) as unknown as ConformanceStore,
    count: async () => (h.other.prepare(`select count(*) as n from ${name}`).get() as { n: number }).n,
    insertBehind: async () => {
      throw new Error('not used by the key-equality cases')
    },
    statements: () => h.queries.length,
    close: async () => {
      h.close()
      temp.remove()
    },
  }
}

const at = (iso: string) => new Date(iso)

/** The key-equality cases on SQLite (better-sqlite3, a WAL file). */
export function sqliteEqualKeys(options: { readonly unique: boolean }): EqualKeys[] {
  const make = (spec: KeyColumn) => () => keyTable(spec, options.unique)
  return [
    {
      name: 'COLLATE NOCASE: A–Z in either case',
      table: make({ ddl: 'text collate nocase not null', column: () => text('k').notNull() }),
      field: 'k',
      spellings: ['Bob', 'BOB', 'bob', 'bOb'],
    },
    {
      name: 'COLLATE RTRIM: trailing spaces',
      table: make({ ddl: 'text collate rtrim not null', column: () => text('k').notNull() }),
      field: 'k',
      spellings: ['bob', 'bob ', 'bob   '],
    },
    {
      name: 'NUMERIC affinity: number text stored as one number',
      table: make({ ddl: 'numeric not null', column: () => numeric('k').notNull() }),
      field: 'k',
      spellings: ['7', '7.0', '07', ' 7 ', '+7', '7e0', '0.7e1'],
    },
    {
      name: 'INTEGER affinity under a text declaration: number text stored as one integer',
      table: make({ ddl: 'integer not null', column: () => text('k').notNull() }),
      field: 'k',
      spellings: ['42', '42.0', '042', '4.2e1'],
    },
    {
      name: 'integer in timestamp mode: a Date with milliseconds, stored in whole seconds',
      table: make({
        ddl: 'integer not null',
        column: () => integer('k', { mode: 'timestamp' }).notNull(),
      }),
      field: 'k',
      spellings: [
        at('2024-05-01T10:00:00.000Z'),
        at('2024-05-01T10:00:00.123Z'),
        at('2024-05-01T10:00:00.999Z'),
      ],
    },
  ]
}
