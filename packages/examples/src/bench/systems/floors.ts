/** The floors: one postgres.js round trip per call, what any get-or-create must at least pay. */

import type { TagRow } from '../../tags.js'
import type { System } from '../system.js'
import { withPool } from './connections.js'

/** One `SELECT * … WHERE slug = $1 LIMIT 1` per call: the floor of a hit. Creates nothing. */
export const floorSelect: System = {
  id: 'floor-select',
  name: 'floor: one SELECT',
  kind: 'floor',
  table: 'unique',
  reportsCreated: true,
  workloads: ['hits', 'mixed'],
  setup: async (ctx) =>
    withPool(ctx, async (sql, slug) => {
      const [row] = await sql<TagRow[]>`select * from ${sql(ctx.table)} where slug = ${slug} limit 1`
      return { id: row?.id, created: false }
    }),
}

/**
 * One `INSERT … ON CONFLICT (slug) DO NOTHING RETURNING *` per call: the floor of a miss. Callers that lose
 * the race get no row back (no id): a floor, not a get-or-create.
 */
export const floorInsert: System = {
  id: 'floor-insert',
  name: 'floor: one INSERT … ON CONFLICT DO NOTHING',
  kind: 'floor',
  table: 'unique',
  reportsCreated: true,
  workloads: ['miss-storm', 'burst', 'mixed'],
  setup: async (ctx) =>
    withPool(ctx, async (sql, slug) => {
      const [row] = await sql<TagRow[]>`
        insert into ${sql(ctx.table)} (slug, label) values (${slug}, ${slug})
        on conflict (slug) do nothing returning *`
      return { id: row?.id, created: row !== undefined }
    }),
}
