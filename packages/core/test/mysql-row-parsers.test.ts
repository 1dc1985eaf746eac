/**
 * mysql2 compiles a row parser for each distinct set of result columns (names included) and keeps up to
 * 15,000 of them. A column whose name carries a key's value (an unaliased expression over inlined values)
 * would compile and keep one per key: memory that grows with every new key. Every result column of a
 * create must have the same names whatever the key.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type MysqlHarness, openMysql } from './support/mysql.js'

let h: MysqlHarness
beforeAll(() => {
  h = openMysql(2)
})
afterAll(() => h.close())

test('MariaDB: the result columns of creates with 40 different keys have one set of names, none with a key value in it', async () => {
  const name = h.table('parsers')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(100) not null unique, label varchar(100))`,
  )
  const store = drizzleStore(
    h.db,
    mysqlTable(name, {
      id: int('id').autoincrement().primaryKey(),
      slug: varchar('slug', { length: 100 }).notNull().unique(),
      label: varchar('label', { length: 100 }),
    }),
  )
  const signatures = new Set<string>()
  const pool = h.pool as unknown as { query: (...args: unknown[]) => Promise<[unknown, unknown]> }
  const query = pool.query.bind(h.pool)
  pool.query = async (...args: unknown[]) => {
    const result = await query(...args)
    const sets = Array.isArray(result[1]) && Array.isArray(result[1][0]) ? result[1] : [result[1]]
    for (const fields of sets as ({ name: string }[] | undefined)[]) {
      if (fields) signatures.add(fields.map((field) => field.name).join(','))
    }
    return result
  }
  await getOrCreate(store, { slug: 'warm-up' }, { label: 'w' })
  const before = signatures.size
  for (let index = 0; index < 40; index++) {
    const { created } = await getOrCreate(store, { slug: `key-${index}-value` }, { label: 'x' })
    expect(created).toBe(true)
  }
  expect([...signatures].filter((signature) => signature.includes('value'))).toEqual([])
  expect(signatures.size).toBe(before)
})
