import { setTimeout as delay } from 'node:timers/promises'
import { scratchName } from '@getorcreate/test-support'
import postgres from 'postgres'
import { expect, test } from 'vitest'
import { fixtureSpec } from './spec.js'

test('creates a table, holds connections, and drops the table unless told to leave it', async () => {
  const spec = fixtureSpec()
  const sql = postgres(process.env.DATABASE_URL!, { max: Math.max(spec.hold ?? 0, 1), onnotice: () => {} })
  try {
    const tagged = scratchName('guest')
    await sql.unsafe(`create table ${tagged} (id int)`)
    if (spec.leaveUntagged) await sql.unsafe(`create table ${spec.leaveUntagged} (id int)`)
    if (spec.hold) {
      const held = await Promise.all(Array.from({ length: spec.hold }, () => sql.reserve()))
      await delay(500)
      for (const connection of held) connection.release()
    }
    if (!spec.leaveTagged) await sql.unsafe(`drop table ${tagged}`)
    expect(
      (await sql.unsafe(`select count(*)::int as n from pg_tables where tablename = '${tagged}'`))[0]?.n,
    ).toBe(spec.leaveTagged ? 1 : 0)
  } finally {
    await sql.end({ timeout: 5 })
  }
})
