/** The guest run's leftover checks (see guest.ts): what a run created and left behind, by its tag. */
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import type { SqlProbe } from './guest-connections.js'
import { SQLITE_DIR_PREFIX, taggedRun } from './names.js'

/** Postgres tables (any schema but the system ones), as `schema.table`, quoted where needed. */
export async function postgresTables(probe: SqlProbe): Promise<string[]> {
  const rows = await probe.query(`select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f')
      and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'`)
  return rows.map((row) => String(row.name))
}

/** Postgres schemas other than the system ones, quoted where needed. */
export async function postgresSchemas(probe: SqlProbe): Promise<string[]> {
  const rows = await probe.query(`select quote_ident(nspname) as name from pg_namespace
    where nspname not like 'pg\\_%' and nspname <> 'information_schema'`)
  return rows.map((row) => String(row.name))
}

/** Tables of the MariaDB / MySQL connection's database. */
export async function mysqlTables(probe: SqlProbe): Promise<string[]> {
  const rows = await probe.query(
    'select table_name as name from information_schema.tables where table_schema = database()',
  )
  return rows.map((row) => String(row.name))
}

/** The SQLite tests' temporary directories that exist now. */
export function sqliteDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(SQLITE_DIR_PREFIX))
}

/** What {@link leftovers} found, sorted. */
export interface Leftovers {
  /** New names with this run's tag: the run made them and left them; safe to remove. */
  readonly ours: string[]
  /** New names with no run's tag: another client's as far as the run can tell; only named. */
  readonly untagged: string[]
}

/**
 * Names in `after` that were not in `before`, less those another run tagged (that run is still going: its
 * own teardown judges them).
 */
export function leftovers(before: ReadonlySet<string>, after: readonly string[], tag: string): Leftovers {
  const ours: string[] = []
  const untagged: string[] = []
  for (const name of after) {
    if (before.has(name)) continue
    const other = taggedRun(name)
    if (other === undefined) untagged.push(name)
    else if (other === tag) ours.push(name)
  }
  return { ours: ours.sort(), untagged: untagged.sort() }
}

/** `count what`, then up to 10 names; `what` is `[one, many]`: for the guest run's messages. */
export function listed(what: readonly [string, string], names: readonly string[]): string {
  const shown = names.slice(0, 10).join(', ')
  const noun = names.length === 1 ? what[0] : what[1]
  return `${names.length} ${noun}${names.length > 10 ? ` (the first 10: ${shown})` : `: ${shown}`}`
}
