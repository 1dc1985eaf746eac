/**
 * MariaDB / MySQL tables for the lock strategy's conformance runs, through drizzleStore: the suite's shapes,
 * and the key-equality cases (keys the server treats as equal though JavaScript does not), each without a
 * unique index on its key unless asked, one table and pool per test.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import type {
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  EqualKeys,
} from '@getorcreate/core/testing'
import { mysqlUrl, scratchName, whereClause } from '@getorcreate/test-support'
import {
  datetime,
  decimal,
  int,
  type MySqlColumnBuilderBase,
  mysqlTable,
  timestamp,
  varchar,
} from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'

/**
 * A new table created by `ddl(name)` and a store over `table(name)`: a pool of `pool` for the store (its
 * statements counted) and one of 2 for counting and writing behind its back. `close` drops the table.
 */
async function mysqlTableOf(
  ddl: (name: string) => string,
  table: (name: string) => Parameters<typeof drizzleStore>[1],
  pool: number,
): Promise<ConformanceTable> {
  const name = scratchName('rl_my')
  let statements = 0
  const client = mysql.createPool({ uri: mysqlUrl(), connectionLimit: pool, maxIdle: pool })
  const raw = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
  await raw.query(ddl(name))
  const db = drizzle(client, { logger: { logQuery: () => void statements++ }, mode: 'default' })
  return {
    store: drizzleStore(db, table(name) as never) as unknown as ConformanceStore,
    count: async (where) => {
      const { clause, params } = whereClause(where, '`')
      const [rows] = await raw.query(`select count(*) as n from ${name} ${clause}`, params)
      return Number((rows as { n: unknown }[])[0]?.n)
    },
    insertBehind: async (values) => {
      const fields = Object.keys(values)
      await raw.query(
        `insert into ${name} (${fields.map((field) => `\`${field}\``).join(', ')}) values (${fields.map(() => '?').join(', ')})`,
        Object.values(values),
      )
    },
    statements: () => statements,
    close: async () => {
      try {
        await raw.query(`drop table if exists ${name}`)
      } finally {
        await client.end()
        await raw.end()
      }
    },
  }
}

/**
 * A table of the suite's `shape`: no unique index on the key (only the lock keeps one row per key), except
 * `'unique'`, whose `slug` and `email` are each unique as the suite defines it (the suite calls
 * `insertIfAbsentAtomically` on it directly).
 */
export function mysqlShapeTable(shape: ConformanceShape, pool: number): Promise<ConformanceTable> {
  const text = (column: string) => varchar(column, { length: 100 })
  return mysqlTableOf(
    (name) => `create table ${name} (
      id int auto_increment primary key,
      prefix varchar(100) ${shape === 'composite' ? 'not null' : 'null'},
      slug varchar(100) ${shape === 'nullable' ? 'null' : 'not null'},
      email varchar(100) null,
      title varchar(100) null,
      ${shape === 'unique' ? 'unique key slug_unique (slug), unique key email_unique (email)' : 'key slug_index (slug)'}
    ) engine = InnoDB`,
    (name) =>
      mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        prefix: text('prefix'),
        slug: shape === 'nullable' ? text('slug') : text('slug').notNull(),
        email: text('email'),
        title: text('title'),
      }),
    pool,
  )
}

/** One key column: its DDL and its drizzle declaration. */
interface KeyColumn {
  readonly ddl: string
  readonly column: () => MySqlColumnBuilderBase
}

const textIn = (collation: string): KeyColumn => ({
  ddl: `varchar(100) character set ${collation.split('_')[0]} collate ${collation} not null`,
  column: () => varchar('k', { length: 100 }).notNull(),
})

/** `(id, k, title)` with `k` as `spec` says, and a plain index on `k`: nothing makes it unique. */
function keyTable(spec: KeyColumn, pool: number): Promise<ConformanceTable> {
  return mysqlTableOf(
    (name) => `create table ${name} (id int auto_increment primary key, k ${spec.ddl},
      title varchar(100) null, key k_index (k)) engine = InnoDB`,
    (name) =>
      mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        k: spec.column(),
        title: varchar('title', { length: 100 }),
      }),
    pool,
  )
}

const at = (iso: string) => new Date(iso)

/** The key-equality cases on MariaDB, each on a table without a unique index (the lock strategy's case). */
export function mysqlEqualKeys(pool: number): EqualKeys[] {
  const on = (spec: KeyColumn) => () => keyTable(spec, pool)
  return [
    {
      name: 'utf8mb4_general_ci: case, accents and trailing spaces',
      table: on(textIn('utf8mb4_general_ci')),
      field: 'k',
      spellings: ['bob', 'BOB', 'bob ', 'Bób'],
    },
    {
      name: 'utf8mb4_unicode_ci: trailing spaces of other kinds, which weigh what a space weighs',
      table: on(textIn('utf8mb4_unicode_ci')),
      field: 'k',
      spellings: ['bob', 'bob\u00a0', 'BOB\u3000 ', 'Bób\u2003'],
    },
    {
      name: 'latin1_swedish_ci: a column in another character set',
      table: on(textIn('latin1_swedish_ci')),
      field: 'k',
      spellings: ['café', 'CAFÉ', 'Café '],
    },
    {
      name: 'utf8mb4_bin (PAD SPACE): trailing spaces',
      table: on(textIn('utf8mb4_bin')),
      field: 'k',
      spellings: ['bob', 'bob ', 'bob   '],
    },
    {
      name: 'datetime (precision 0): a Date with milliseconds',
      table: on({ ddl: 'datetime not null', column: () => datetime('k', { mode: 'date' }).notNull() }),
      field: 'k',
      spellings: [
        at('2024-05-01T10:00:00.000Z'),
        at('2024-05-01T10:00:00.123Z'),
        at('2024-05-01T10:00:00.400Z'),
      ],
    },
    {
      name: 'timestamp (precision 0): a Date with milliseconds',
      table: on({ ddl: 'timestamp not null', column: () => timestamp('k', { mode: 'date' }).notNull() }),
      field: 'k',
      spellings: [at('2024-05-01T10:00:00.000Z'), at('2024-05-01T10:00:00.250Z')],
    },
    {
      name: 'decimal(10,2): more decimals than the scale',
      table: on({
        ddl: 'decimal(10,2) not null',
        column: () => decimal('k', { precision: 10, scale: 2 }).notNull(),
      }),
      field: 'k',
      spellings: ['1.5', '1.50', '1.501', '01.50'],
    },
  ]
}

/** The MariaDB twin of the Postgres `itemsTable`: `slug` is the key, and nothing makes it unique. */
export function mysqlItemsTable(name: string) {
  return mysqlTable(name, {
    id: int('id').autoincrement().primaryKey(),
    slug: varchar('slug', { length: 100 }).notNull(),
    payload: varchar('payload', { length: 100 }),
  })
}
