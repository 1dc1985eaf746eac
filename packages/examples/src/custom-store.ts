/**
 * "Write your own store": a complete Store over a plain SQL client (PGlite here, without drizzle), the five
 * members the constraint strategy uses, and a race that shows it holds.
 *
 * Run it: `node --conditions=@getorcreate/source --import tsx src/custom-store.ts`
 */
import { pathToFileURL } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { getOrCreate, type Store, type Uniqueness } from '@getorcreate/core'

/** A row of the example's `tags` table. */
export interface Tag {
  id: number
  slug: string
  label: string | null
}

/** Field → column. Only these names ever reach SQL text: values always travel as parameters. */
const COLUMNS: Record<keyof Tag, string> = { id: '"id"', slug: '"slug"', label: '"label"' }

function columnOf(field: string): string {
  const column = COLUMNS[field as keyof Tag]
  if (!column) throw new Error(`tags has no field ${field}`)
  return column
}

/** `where` clause and parameters for a key; `null` matches NULL (the strategy only sends it when allowed). */
function where(key: Partial<Tag>): { text: string; params: unknown[] } {
  const params: unknown[] = []
  const text = Object.entries(key)
    .map(([field, value]) => {
      if (value === null) return `${columnOf(field)} is null`
      params.push(value)
      return `${columnOf(field)} = $${params.length}`
    })
    .join(' and ')
  return { text, params }
}

function insertSql(values: Partial<Tag>): { text: string; params: unknown[] } {
  const fields = Object.keys(values).filter((field) => values[field as keyof Tag] !== undefined)
  return {
    text: `insert into tags (${fields.map(columnOf).join(', ')}) values (${fields.map((_, i) => `$${i + 1}`).join(', ')})`,
    params: fields.map((field) => values[field as keyof Tag]),
  }
}

/**
 * A {@link Store} for the `tags` table over a PGlite client:
 * - `find`: one SELECT. Under READ COMMITTED a new statement already sees the newest committed row, so
 *   `fresh` needs nothing more (on MySQL it would be a `LOCK IN SHARE MODE` read).
 * - `insertIfAbsentAtomically`: `INSERT … ON CONFLICT (key) DO NOTHING RETURNING *`: atomic, and a conflict on the key
 *   gives no row instead of an error. A conflict on another unique column still throws, as it must.
 * - `uniqueness`: asks the live catalog whether a unique index covers exactly the key's columns.
 */
export function tagStore(db: PGlite): Store<Tag, Partial<Tag>, Partial<Tag>> {
  return {
    name: 'pglite:public.tags',
    fields: Object.keys(COLUMNS),
    async find(key) {
      const { text, params } = where(key)
      return (await db.query<Tag>(`select * from tags where ${text} limit 1`, params)).rows[0]
    },
    async insert(values) {
      const { text, params } = insertSql(values)
      const row = (await db.query<Tag>(`${text} returning *`, params)).rows[0]
      if (!row) throw new Error('INSERT … RETURNING returned no row')
      return row
    },
    async insertIfAbsentAtomically(key, values) {
      const { text, params } = insertSql(values)
      const target = Object.keys(key).map(columnOf).join(', ')
      return (await db.query<Tag>(`${text} on conflict (${target}) do nothing returning *`, params)).rows[0]
    },
    async uniqueness(fields): Promise<Uniqueness> {
      const wanted = fields.map((field) => columnOf(field).replaceAll('"', '')).sort()
      const { rows } = await db.query<{ columns: string[]; nulls_not_distinct: boolean }>(`
        select array(select a.attname::text from unnest(i.indkey) k(n)
                     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n) as columns,
               coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) as nulls_not_distinct
        from pg_index i
        where i.indrelid = 'tags'::regclass and i.indisunique and i.indpred is null and i.indexprs is null`)
      const { rows: notNull } = await db.query<{ name: string }>(
        `select attname as name from pg_attribute where attrelid = 'tags'::regclass and attnotnull`,
      )
      for (const index of rows) {
        if (JSON.stringify([...index.columns].sort()) !== JSON.stringify(wanted)) continue
        const keyNotNull = wanted.every((column) => notNull.some((row) => row.name === column))
        return index.nulls_not_distinct || keyNotNull ? 'enforced' : 'nulls-distinct'
      }
      return 'not-enforced'
    },
  }
}

/** What {@link main} observed. */
export interface CustomStoreSummary {
  /** How many callers raced for the same new tag. */
  readonly callers: number
  /** How many of them got `created: true` (always 1). */
  readonly created: number
  /** How many distinct row ids they were given (always 1). */
  readonly ids: number
  /** Rows in the table afterwards (always 1). */
  readonly rows: number
  /** The tag they all got. */
  readonly tag: Tag
}

/** Create the table in an in-memory PGlite, race `callers` calls for one tag, and report what happened. */
export async function main(callers = 20): Promise<CustomStoreSummary> {
  const db = new PGlite()
  try {
    await db.exec('create table tags (id serial primary key, slug text not null unique, label text)')
    const tags = tagStore(db)
    const results = await Promise.all(
      Array.from({ length: callers }, (_, caller) =>
        getOrCreate(tags, { slug: 'news' }, () => ({ label: `News (caller ${caller})` })),
      ),
    )
    const [count] = (await db.query<{ n: number }>('select count(*)::int as n from tags')).rows
    const winner = results.find((result) => result.created) ?? results[0]
    if (!winner) throw new Error('no result')
    return {
      callers,
      created: results.filter((result) => result.created).length,
      ids: new Set(results.map((result) => result.row.id)).size,
      rows: count?.n ?? 0,
      tag: winner.row,
    }
  } finally {
    await db.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (summary) => console.log(summary),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
