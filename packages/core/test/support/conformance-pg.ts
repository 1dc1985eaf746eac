import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import type {
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  ConformanceTableOptions,
  EqualKeys,
} from '@getorcreate/core/testing'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { openPg, type PgDriver } from './pg.js'
import { PG_KEY_COLUMNS, pgEqualKeys } from './pg-equal-keys.js'

/** The drizzle table of a conformance shape (see ConformanceShape). */
function pgShapeTable(name: string, shape: ConformanceShape) {
  return pgTable(name, {
    id: serial('id').primaryKey(),
    prefix: text('prefix'),
    slug: shape === 'nullable' ? text('slug') : text('slug').notNull(),
    email: text('email'),
    title: text('title'),
  })
}

const SHAPE_DDL: Record<ConformanceShape, string> = {
  unique: 'unique (slug), unique (email)',
  composite: 'unique (prefix, slug)',
  'no-unique': 'check (true)',
  nullable: 'unique (slug)',
}

function literal(value: unknown): string {
  return value === null ? 'null' : `'${String(value).replaceAll("'", "''")}'`
}

/**
 * A conformance table on Postgres through `driver`: a new table (and pool of `pool`) per call; `fenced`, with
 * a fences table of its own (`pgFencesSql`).
 */
export async function pgConformanceTable(
  driver: PgDriver,
  shape: ConformanceShape,
  pool = 16,
  options: ConformanceTableOptions = {},
): Promise<ConformanceTable> {
  const h = await openPg(driver, pool)
  const name = h.table()
  await h.exec(`create table ${name} (
    id serial primary key,
    prefix text ${shape === 'composite' ? 'not null' : ''},
    slug text ${shape === 'nullable' ? '' : 'not null'},
    email text,
    title text,
    ${SHAPE_DDL[shape]}
  )`)
  if (shape === 'no-unique') {
    // Neither counts: a partial unique index, and a plain index.
    await h.exec(
      `create unique index on ${name} (slug) where email is not null; create index on ${name} (slug)`,
    )
  }
  const fencesName = options.fenced ? h.table('fences') : undefined
  if (fencesName) await h.exec(pgFencesSql(fencesName))
  const store = drizzleStore(
    h.db,
    pgShapeTable(name, shape),
    fencesName ? { fences: pgFencesTable(fencesName) } : {},
  ) as unknown as ConformanceStore
  return {
    store,
    ...(fencesName && {
      fence: async (lockKey: string) => {
        const [row] = await h.rows(`select token from ${fencesName} where lock_key = ${literal(lockKey)}`)
        return row === undefined ? undefined : Number(row.token)
      },
    }),
    count: async (where = {}) => {
      const clause = Object.entries(where)
        .map(([field, value]) => (value === null ? `"${field}" is null` : `"${field}" = ${literal(value)}`))
        .join(' and ')
      const [row] = await h.rows(`select count(*)::int as n from ${name} ${clause ? `where ${clause}` : ''}`)
      return Number(row?.n)
    },
    insertBehind: async (values) => {
      const names = Object.keys(values)
      await h.exec(
        `insert into ${name} (${names.map((field) => `"${field}"`).join(', ')}) values (${Object.values(values).map(literal).join(', ')})`,
      )
    },
    statements: () => h.queries.length,
    close: () => h.close(), // drops the table
  }
}

/**
 * The Postgres key-equality cases (./pg-equal-keys.ts) on `driver`, under the constraint strategy (a unique
 * index on the key). Not registered on PGlite: the case-insensitive collation case. Its build accepts
 * `CREATE COLLATION … (provider = icu, locale = 'und-u-ks-level2', deterministic = false)` but compares under
 * it byte for byte ('Bob', 'bob' and 'BOB' are three rows under a unique index: tried), so the case would
 * test PGlite's ICU data, not the store.
 */
export function pgEqualKeyCases(driver: PgDriver): EqualKeys[] {
  return pgEqualKeys(() => openPg(driver, 16), {
    unique: true,
    columns: PG_KEY_COLUMNS.filter((spec) => driver !== 'pglite' || !spec.icu),
  })
}
