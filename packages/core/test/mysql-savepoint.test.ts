/**
 * Concurrent calls on one MariaDB store bound to the caller's transaction: each insert runs in the savepoint
 * `goc_insert`, one at a time per transaction (mysql-savepoint.ts), so one call's failure rolls back only its
 * own insert, never another call's row. Real MariaDB; the failure is the server's own (a CHECK violation).
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'

let h: MysqlHarness

beforeAll(() => {
  h = openMysql(2)
})
afterAll(async () => {
  await h.close()
})

/** A table whose CHECK refuses the title `refused`: an insert the database itself fails. */
async function checkedTable() {
  const name = h.table('savepoint')
  await h.exec(`create table ${name} (
    id int auto_increment primary key,
    slug varchar(100) not null,
    title varchar(100) not null,
    unique key slug_unique (slug),
    constraint title_allowed check (title <> 'refused')
  ) engine = InnoDB`)
  const table = mysqlTable(name, {
    id: int('id').autoincrement().primaryKey(),
    slug: varchar('slug', { length: 100 }).notNull(),
    title: varchar('title', { length: 100 }).notNull(),
  })
  return { name, table }
}

// Both insert paths: RETURNING (this MariaDB) and the insert then a read back (MySQL, MariaDB < 10.5).
for (const version of [undefined, '10.4.32-MariaDB']) {
  test(`concurrent calls in one transaction, every third refused by a CHECK: the others' rows are committed, exactly (${version ?? 'this server'})`, async () => {
    const { name, table } = await checkedTable()
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
    const refused = (i: number) => i % 3 === 1 // k1, k4, k7, k10: 4 of 12, each between two good ones
    const savepointsBefore = h.queries.filter((query) => /^savepoint goc_insert$/i.test(query)).length
    const { outcomes, after } = await h.db.transaction(async (tx) => {
      const store = version === undefined ? drizzleStore(tx, table) : createMySqlStore(tx, table, { version })
      expect(store.inTransaction).toBe(true)
      const outcomes = await Promise.allSettled(
        keys.map((slug, i) =>
          getOrCreate(store, { slug }, { title: refused(i) ? 'refused' : `title ${slug}` }),
        ),
      )
      // The transaction goes on after the failures: a write of its own after them commits with the rest.
      const after = await getOrCreate(store, { slug: 'after' }, { title: 'after the failures' })
      return { outcomes, after }
    })
    // After commit: every good key's row, once; no refused key's; the write after the failures.
    const rows = await h.rows(`select slug, title from ${name} order by id`)
    const expected = [
      ...keys.flatMap((slug, i) => (refused(i) ? [] : [{ slug, title: `title ${slug}` }])),
      { slug: 'after', title: 'after the failures' },
    ]
    expect(rows.toSorted((a, b) => String(a.slug).localeCompare(String(b.slug)))).toEqual(
      expected.toSorted((a, b) => a.slug.localeCompare(b.slug)),
    )
    expect(after.created).toBe(true)
    keys.forEach((slug, i) => {
      const outcome = outcomes[i]
      if (refused(i)) {
        expect(outcome?.status, slug).toBe('rejected')
        // The server's CHECK refusal (4025, ER_CONSTRAINT_FAILED), as drizzle's error's cause.
        const reason = outcome?.status === 'rejected' ? (outcome.reason as { cause?: unknown }) : undefined
        expect(reason?.cause, slug).toMatchObject({ errno: 4025 })
      } else {
        expect(outcome?.status, slug).toBe('fulfilled')
        expect(outcome?.status === 'fulfilled' && outcome.value, slug).toMatchObject({
          created: true,
          row: { slug, title: `title ${slug}` },
        })
      }
    })
    // Every insert ran in a savepoint: one per call (12 racing, plus the one after them).
    const savepoints = h.queries.filter((query) => /^savepoint goc_insert$/i.test(query)).length
    expect(savepoints - savepointsBefore).toBe(keys.length + 1)
  })
}
