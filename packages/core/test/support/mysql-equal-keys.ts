/**
 * Keys MariaDB / MySQL treats as equal though JavaScript does not, as `runStoreConformance`'s `equalKeys`:
 * collations that ignore case, accents and trailing spaces, and columns that round on write.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import type { ConformanceStore, EqualKeys } from '@getorcreate/core/testing'
import {
  datetime,
  decimal,
  int,
  type MySqlColumnBuilderBase,
  mysqlTable,
  timestamp,
  varchar,
} from 'drizzle-orm/mysql-core'
import { openMysql } from './mysql.js'

/** One key column: its DDL and its drizzle declaration. */
interface KeyColumn {
  readonly ddl: string
  readonly column: () => MySqlColumnBuilderBase
}

const text = (collation: string): KeyColumn => ({
  ddl: `varchar(100) character set ${collation.split('_')[0]} collate ${collation} not null`,
  column: () => varchar('k', { length: 100 }).notNull(),
})

const COLUMNS = {
  general_ci: text('utf8mb4_general_ci'),
  unicode_ci: text('utf8mb4_unicode_ci'),
  latin1: text('latin1_swedish_ci'),
  bin: text('utf8mb4_bin'),
  datetime: { ddl: 'datetime not null', column: () => datetime('k', { mode: 'date' }).notNull() },
  timestamp: { ddl: 'timestamp not null', column: () => timestamp('k', { mode: 'date' }).notNull() },
  decimal: {
    ddl: 'decimal(10,2) not null',
    column: () => decimal('k', { precision: 10, scale: 2 }).notNull(),
  },
} satisfies Record<string, KeyColumn>

/**
 * A fresh table `(id auto_increment, k <type>, title)` and a `drizzleStore` over it (a pool of `pool`); with
 * `unique`, `k` has a unique index (the constraint strategy's case), else a plain one (a lock strategy's).
 */
async function keyTable(spec: KeyColumn, unique: boolean, pool: number) {
  const h = openMysql(pool)
  const name = h.table('eqk')
  await h.exec(`create table ${name} (id int auto_increment primary key, k ${spec.ddl}, title varchar(100) null,
    ${unique ? 'unique ' : ''}key k_index (k)) engine = InnoDB`)
  const table = mysqlTable(name, {
    id: int('id').autoincrement().primaryKey(),
    k: spec.column(),
    title: varchar('title', { length: 100 }),
  })
  return {
    store: drizzleStore(h.db, table) as unknown as ConformanceStore,
    count: async () => Number((await h.rows(`select count(*) as n from ${name}`))[0]?.n),
    insertBehind: async () => {
      throw new Error('not used by the key-equality cases')
    },
    statements: () => h.queries.length,
    close: () => h.close(),
  }
}

const at = (iso: string) => new Date(iso)

/** The key-equality cases on MariaDB (and MySQL 8: rounding and truncation agree on these spellings). */
export function mysqlEqualKeys(options: { readonly unique: boolean; readonly pool: number }): EqualKeys[] {
  const make = (spec: KeyColumn) => () => keyTable(spec, options.unique, options.pool)
  return [
    {
      name: 'utf8mb4_general_ci: case, accents and trailing spaces',
      table: make(COLUMNS.general_ci),
      field: 'k',
      spellings: ['bob', 'BOB', 'bob ', 'Bób'],
    },
    {
      name: 'utf8mb4_unicode_ci: case, accents and trailing spaces',
      table: make(COLUMNS.unicode_ci),
      field: 'k',
      spellings: ['Straße', 'STRASSE', 'strasse  ', 'Strasse', 'strasse\u00a0', 'STRASSE\u3000'],
    },
    {
      name: 'latin1_swedish_ci: a column in another character set',
      table: make(COLUMNS.latin1),
      field: 'k',
      spellings: ['café', 'CAFÉ', 'Café '],
    },
    {
      name: 'utf8mb4_bin (PAD SPACE): trailing spaces',
      table: make(COLUMNS.bin),
      field: 'k',
      spellings: ['bob', 'bob ', 'bob   '],
    },
    {
      name: 'datetime (precision 0): a Date with milliseconds',
      table: make(COLUMNS.datetime),
      field: 'k',
      spellings: [
        at('2024-05-01T10:00:00.000Z'),
        at('2024-05-01T10:00:00.123Z'),
        at('2024-05-01T10:00:00.400Z'),
      ],
    },
    {
      name: 'timestamp (precision 0): a Date with milliseconds',
      table: make(COLUMNS.timestamp),
      field: 'k',
      spellings: [
        at('2024-05-01T10:00:00.000Z'),
        at('2024-05-01T10:00:00.250Z'),
        at('2024-05-01T10:00:00.300Z'),
      ],
    },
    {
      name: 'decimal(10,2): more decimals than the scale',
      table: make(COLUMNS.decimal),
      field: 'k',
      spellings: ['1.5', '1.50', '1.501', '01.50'],
    },
  ]
}
