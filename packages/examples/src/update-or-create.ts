/**
 * `updateOrCreate`, as the README's API section shows it: a subscription updated if it exists, created with its
 * start date if not, on embedded Postgres (PGlite) with drizzle; and eight callers at once on one key, each
 * with its own status.
 *
 * Run it: `node --conditions=@getorcreate/source --import tsx src/update-or-create.ts`
 */
import { pathToFileURL } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { updateOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, pgTable, serial, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'

const subscriptionsTable = pgTable(
  'subscriptions',
  {
    id: serial('id').primaryKey(),
    userId: integer('user_id').notNull(),
    status: text('status').notNull(),
    startedAt: text('started_at'),
  },
  (t) => [uniqueIndex().on(t.userId)],
)

/** What the example saw: the two calls of the README, and the eight racing callers. */
export interface UpdateOrCreateRun {
  readonly first: { readonly created: boolean; readonly status: string; readonly startedAt: string | null }
  readonly second: { readonly created: boolean; readonly status: string; readonly startedAt: string | null }
  readonly race: {
    readonly created: number
    readonly rows: number
    readonly ids: number
    readonly statuses: string[]
  }
}

/** Run the README's example, then eight callers at once on another key. */
export async function main(): Promise<UpdateOrCreateRun> {
  const client = new PGlite()
  try {
    await client.exec(`create table subscriptions (id serial primary key, user_id integer not null unique,
      status text not null, started_at text)`)
    const subscriptions = drizzleStore(drizzle(client), subscriptionsTable)
    const userId = 7
    const calls = []
    for (let call = 0; call < 2; call++) {
      // The second time, the subscription is paused: this call resumes it.
      if (call === 1)
        await client.query(`update subscriptions set status = 'paused' where user_id = ${userId}`)
      // As printed in the README:
      const { row, created } = await updateOrCreate(
        subscriptions,
        { userId },
        (current) => ({ status: current?.status === 'paused' ? 'resumed' : 'active' }),
        { createDefaults: { startedAt: '2026-12-01' } },
      )
      calls.push({ created, ...row })
    }
    const statuses = Array.from({ length: 8 }, (_, i) => `status-${i}`)
    const racing = await Promise.all(
      statuses.map((status) => updateOrCreate(subscriptions, { userId: 8 }, { status })),
    )
    const rows = await client.query<{ n: number }>(
      'select count(*)::int as n from subscriptions where user_id = 8',
    )
    const [first, second] = calls
    return {
      first: { created: first!.created, status: first!.status, startedAt: first!.startedAt },
      second: {
        created: second!.created,
        status: second!.status,
        startedAt: second!.startedAt,
      },
      race: {
        created: racing.filter((result) => result.created).length,
        rows: rows.rows[0]?.n ?? -1,
        ids: new Set(racing.map((result) => result.row.id)).size,
        statuses: racing.map((result) => result.row.status),
      },
    }
  } finally {
    await client.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (run) => console.log(JSON.stringify(run, null, 2)),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
