/**
 * A fenced create on a Postgres database whose default isolation is REPEATABLE READ: when another writer moves
 * the fence after the create's statement took its snapshot, Postgres refuses the raise (40001, "could not
 * serialize access due to concurrent update"). That is the fence's stale-read case, and the create runs its
 * statement again, with a new snapshot, rather than failing with the driver's error.
 */
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, beforeAll, expect, test } from 'vitest'

const items = scratchName('fence_rr')
const fencesName = scratchName('fence_rr_f')
const admin = postgres(databaseUrl(), { max: 2, onnotice: () => undefined })
const repeatable = postgres(databaseUrl(), {
  max: 2,
  onnotice: () => undefined,
  connection: { default_transaction_isolation: 'repeatable read' },
})

beforeAll(async () => {
  await admin.unsafe(`create table ${items} (id serial primary key, slug text not null)`)
  await admin.unsafe(pgFencesSql(fencesName))
})
afterAll(async () => {
  await admin.unsafe(`drop table if exists ${items}, ${fencesName}`)
  await Promise.all([admin.end({ timeout: 5 }), repeatable.end({ timeout: 5 })])
})

test('REPEATABLE READ by default: a fence moved during the wait makes the create read again, not fail', async () => {
  const store = drizzleStore(
    drizzle(repeatable),
    pgTable(items, { id: serial('id').primaryKey(), slug: text('slug').notNull() }),
    { fences: pgFencesTable(fencesName) },
  )
  const lockKey = `lock-${items}`
  await store.insertIfAbsentFenced!({ slug: 'seed' }, { slug: 'seed' }, { token: 1, lockKey })
  const holder = await admin.reserve()
  try {
    // Another writer holds the fence row, raised to 2, and has created the row: not committed yet.
    await holder.unsafe('begin')
    await holder.unsafe(
      `update ${fencesName} set prev_token = token, token = 2 where lock_key = '${lockKey}'`,
    )
    await holder.unsafe(`insert into ${items} (slug) values ('w')`)
    const waiting = store.insertIfAbsentFenced!({ slug: 'w' }, { slug: 'w' }, { token: 3, lockKey })
    await new Promise((resolve) => setTimeout(resolve, 200)) // its statement waits for the fence row
    await holder.unsafe('commit')
    expect(await waiting).toBe(undefined) // read again after the commit: the holder's row is there
    const [row] = await admin.unsafe<{ n: number }[]>(
      `select count(*)::int as n from ${items} where slug = 'w'`,
    )
    expect(row?.n).toBe(1)
  } finally {
    holder.release()
  }
})
