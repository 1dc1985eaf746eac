/**
 * The bench's tables: one per system and workload, named after the run, holding what a production table
 * holds before the first turn (rows of other keys, the workload's existing keys, fresh statistics).
 */
import { pgFencesSql } from '@getorcreate/core/drizzle'
import type postgres from 'postgres'
import { createTagsTableSql } from '../tags.js'
import type { System, WorkloadId } from './system.js'
import type { Workload } from './workloads.js'

/** Rows of other keys in every bench table before the first turn (see {@link createTables}). */
const BACKGROUND_ROWS = 20_000

/** The fences table of a fenced system whose table is `table` (see {@link System.fenced}). */
export function fencesTableFor(table: string): string {
  return `${table}_fences`
}

const SHORT: Record<WorkloadId, string> = { 'miss-storm': 'm', burst: 'b', hits: 'h', mixed: 'x' }

/**
 * Create the tables of `workload`'s `systems` for run `runId`; returns each system's table by system id.
 * Each name is added to `created` before its table is made, so that the run drops it whatever fails.
 */
export async function createTables(
  admin: postgres.Sql,
  runId: string,
  workload: Workload,
  systems: readonly System[],
  created: string[],
): Promise<Map<string, string>> {
  const tableOf = new Map<string, string>()
  for (const [i, system] of systems.entries()) {
    const table = `bench_${runId}_${SHORT[workload.id]}${i}`
    created.push(table)
    tableOf.set(system.id, table)
    // Plain tables get a non-unique index on the key, as any table looked up by key has: without it every
    // find would scan the table, and the lock-based systems would be measured against a missing index.
    await admin.unsafe(createTagsTableSql(table, system.table === 'unique' ? 'unique' : 'non-unique'))
    // Rows of other keys, as a table in production holds, then statistics: without them a find planned
    // while the table is nearly empty (postgres.js prepares every statement; its generic plan is cached on
    // the connection) keeps scanning the whole table as the miss storm grows it, until autovacuum analyzes
    // it a minute later. The bench would then measure that plan, not the systems.
    await admin.unsafe(
      `insert into ${table} (slug, label) select 'other-' || g, 'other-' || g from generate_series(1, ${BACKGROUND_ROWS}) g`,
    )
    if (workload.seeded.length > 0) {
      await admin.unsafe(
        `insert into ${table} (slug, label) select 'hot-' || g, 'hot-' || g from generate_series(0, ${workload.seeded.length - 1}) g`,
      )
    }
    await admin.unsafe(`analyze ${table}`)
    if (system.fenced) await createFences(admin, fencesTableFor(table), created)
  }
  return tableOf
}

/**
 * A fences table, added to `created` first, holding a fence row per background row as a table in production
 * holds rows of lock keys written before (the same shape of key: the default prefix and a hash), then statistics.
 */
async function createFences(admin: postgres.Sql, name: string, created: string[]): Promise<void> {
  created.push(name)
  await admin.unsafe(pgFencesSql(name))
  await admin.unsafe(
    `insert into ${name} (lock_key, token) select 'getorcreate:lock:{' || md5('other-' || g) || '}', g from generate_series(1, ${BACKGROUND_ROWS}) g`,
  )
  await admin.unsafe(`analyze ${name}`)
}

/** Drop `tables`, each on its own, ignoring failures (a table never created, a lost connection). */
export async function dropTables(admin: postgres.Sql, tables: readonly string[]): Promise<void> {
  for (const table of tables) await admin.unsafe(`drop table if exists ${table}`).catch(() => {})
}
