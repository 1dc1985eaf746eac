/**
 * The MySQL / MariaDB store's lockIdentity: keys the server compares as equal give equal identities, keys it
 * tells apart give different ones, whatever the declaration of the table, and at most one round trip.
 */

import type { LockIdentity } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { mysqlUrl } from '@getorcreate/test-support'
import {
  datetime,
  decimal,
  int,
  mysqlSchema,
  mysqlTable,
  timestamp,
  varbinary,
  varchar,
} from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { keyColumnRule } from '../src/drizzle/mysql/mysql-key-columns.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'

let h: MysqlHarness
let name: string

/** Every key column the cases use, each under its own collation or type. */
const COLUMNS = `id int auto_increment primary key,
  ci varchar(100) character set utf8mb4 collate utf8mb4_general_ci null,
  nopad varchar(100) character set utf8mb4 collate utf8mb4_general_nopad_ci null,
  uni varchar(100) character set utf8mb4 collate utf8mb4_unicode_ci null,
  uca varchar(100) character set utf8mb4 collate utf8mb4_uca1400_as_cs null,
  bin varchar(100) character set utf8mb4 collate utf8mb4_bin null,
  latin varchar(100) character set latin1 collate latin1_swedish_ci null,
  raw varbinary(100) null,
  n int null,
  dt datetime null,
  dt3 datetime(3) null,
  ts timestamp null,
  tss timestamp null,
  amount decimal(10,2) null`

function columnsOf() {
  return {
    id: int('id').autoincrement().primaryKey(),
    ci: varchar('ci', { length: 100 }),
    nopad: varchar('nopad', { length: 100 }),
    uni: varchar('uni', { length: 100 }),
    uca: varchar('uca', { length: 100 }),
    bin: varchar('bin', { length: 100 }),
    latin: varchar('latin', { length: 100 }),
    raw: varbinary('raw', { length: 100 }),
    n: int('n'),
    dt: datetime('dt', { mode: 'date' }),
    dt3: datetime('dt3', { mode: 'date', fsp: 3 }),
    ts: timestamp('ts', { mode: 'date' }),
    tss: timestamp('tss', { mode: 'string' }),
    amount: decimal('amount', { precision: 10, scale: 2 }),
  }
}

beforeAll(async () => {
  h = openMysql(4)
  name = h.table('lockid')
  await h.exec(`create table ${name} (${COLUMNS}) engine = InnoDB`)
})
afterAll(() => h.close())

const store = () => drizzleStore(h.db, mysqlTable(name, columnsOf()))
const identityOf = async (key: Record<string, unknown>, s = store()) =>
  (await s.lockIdentity?.(key as never)) as LockIdentity
const same = async (field: string, values: readonly unknown[]) => {
  const s = store()
  const keys = await Promise.all(values.map(async (value) => (await identityOf({ [field]: value }, s)).key))
  return new Set(keys.map((key) => JSON.stringify(key))).size === 1
}

/** Whether the server finds a row holding `a` by `b` in `field`'s column: its own notion of equal. */
async function serverEqual(field: string, a: unknown, b: unknown): Promise<boolean> {
  const s = store()
  await h.exec(`delete from ${name}`)
  await s.insert({ [field]: a } as never)
  return (await s.find({ [field]: b } as never)) !== undefined
}

describe('mysqlStore lockIdentity', () => {
  test('the table is mysql:<database>.<table>, declared with or without its schema', async () => {
    const database = decodeURIComponent(new URL(mysqlUrl()).pathname.slice(1))
    const plain = await identityOf({ n: 1 })
    const qualified = await identityOf(
      { n: 1 },
      drizzleStore(h.db, mysqlSchema(database).table(name, columnsOf())),
    )
    expect(plain.table).toBe(`mysql:${database}.${name}`)
    expect(qualified.table).toBe(plain.table)
    expect(store().name).toBe(`mysql:${name}`) // the name for messages stays as declared
  })

  test.each([
    ['ci', ['bob', 'BOB', 'bob ', 'Bób', 'bÖb  ']],
    ['nopad', ['bob', 'BOB', 'Bób']],
    // Under UCA collations other spaces weigh what ' ' weighs, and PAD SPACE pads with that weight.
    ['uni', ['bob', 'bob\u00a0', 'BOB\u3000 ', 'bob\u2003', 'Bób ']],
    ['uca', ['bob', 'bob ', 'bob   ']],
    ['bin', ['bob', 'bob ', 'bob   ']],
    ['latin', ['café', 'CAFÉ', 'Cafe ']],
    ['dt', [new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00.999Z')]],
    ['ts', [new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00.5Z')]],
    ['amount', ['1.5', '1.50', '1.501', '01.5']],
  ])(
    '%s: spellings the server treats as equal give one identity, and the server agrees',
    async (field, values) => {
      expect(await same(field, values)).toBe(true)
      for (const value of values.slice(1)) expect(await serverEqual(field, values[0], value)).toBe(true)
    },
  )

  test.each([
    ['ci', 'bob', 'bobby'],
    ['ci', 'bob', ' bob'],
    ['nopad', 'bob', 'bob '],
    ['uca', 'bob', 'Bob'],
    ['uca', 'bob', 'bob\u00a0'],
    ['bin', 'bob', 'Bob'],
    ['raw', 'bob', 'bob '],
    ['dt', new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:01Z')],
    ['dt3', new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00.001Z')],
    ['amount', '1.50', '1.51'],
    ['amount', '1.50', '1.505'],
  ])('%s: %j and %j are different keys, to the server and to the lock', async (field, a, b) => {
    expect(await same(field, [a, b])).toBe(false)
    expect(await serverEqual(field, a, b)).toBe(false)
  })

  test('a key of several fields: each field as its column compares', async () => {
    const a = await identityOf({ ci: 'BOB ', amount: '2.0', n: 7, bin: 'x ' })
    const b = await identityOf({ ci: 'bob', amount: '2.00', n: 7, bin: 'x' })
    expect(a).toEqual(b)
    expect(await identityOf({ ci: null, n: 7 })).toMatchObject({ key: { ci: null, n: 7 } })
  })

  test('exact types and _bin collations cost no round trip; folded and rounded keys one, the columns once', async () => {
    const s = store()
    const sent = () => h.queries.length
    await identityOf({ n: 1 }, s) // reads the columns, once
    let before = sent()
    await identityOf({ n: 2, bin: 'a ', raw: 'b' }, s)
    expect(sent() - before).toBe(0)
    before = sent()
    await identityOf({ ci: 'a', latin: 'b', dt: new Date(), amount: '1' }, s)
    expect(sent() - before).toBe(1)
  })

  test('timestamp: the instant, whatever the session time_zone; datetime: what mysql2 is told of time zones does not matter', async () => {
    const opened: mysql.Pool[] = []
    const over = (zone: string, timezone?: string) => {
      const pool = mysql.createPool({
        uri: mysqlUrl(),
        connectionLimit: 1,
        ...(timezone ? { timezone } : {}),
      })
      pool.on('connection', (connection) => connection.query(`set time_zone = '${zone}'`))
      opened.push(pool)
      return drizzleStore(drizzle(pool, { mode: 'default' }), mysqlTable(name, columnsOf()))
    }
    try {
      const utc = over('+00:00')
      const plusTwo = over('+02:00', '+05:00')
      // One instant written as each session's wall clock: one stored value, one identity.
      expect((await identityOf({ tss: '2024-05-01 10:00:00' }, utc)).key).toEqual(
        (await identityOf({ tss: '2024-05-01 12:00:00.4' }, plusTwo)).key,
      )
      expect((await identityOf({ dt: new Date('2024-05-01T10:00:00.7Z') }, utc)).key).toEqual(
        (await identityOf({ dt: new Date('2024-05-01T10:00:00Z') }, plusTwo)).key,
      )
    } finally {
      await Promise.all(opened.map((pool) => pool.end()))
    }
  })
})

describe('keyColumnRule: what a catalog row of a key column makes of its values', () => {
  const text = (collation: string, extra: Record<string, unknown> = {}) => ({
    data_type: 'varchar',
    character_set_name: collation.split('_')[0],
    collation_name: collation,
    ...extra,
  })

  test.each([
    [text('utf8mb4_general_ci', { character_maximum_length: 100 }), { kind: 'fold', padTo: 100 }],
    [text('utf8mb4_general_ci', { character_maximum_length: 4294967295 }), { kind: 'fold', padTo: 65535 }],
    [text('utf8mb4_general_nopad_ci'), { kind: 'fold', padTo: 0 }],
    [text('utf8mb4_nopad_bin'), { kind: 'exact' }],
    [text('utf8mb4_bin'), { kind: 'trim' }],
    // MySQL 8 says NO PAD in COLLATIONS.PAD_ATTRIBUTE (every utf8mb4_0900_* collation).
    [text('utf8mb4_0900_ai_ci', { PAD_ATTRIBUTE: 'NO PAD' }), { kind: 'fold', padTo: 0 }],
    [text('utf8mb4_0900_bin', { PAD_ATTRIBUTE: 'NO PAD' }), { kind: 'exact' }],
    [
      text('latin1_swedish_ci', { PAD_ATTRIBUTE: 'PAD SPACE', character_maximum_length: 20 }),
      { kind: 'fold', padTo: 20 },
    ],
    [{ data_type: 'varbinary', character_set_name: null, collation_name: null }, { kind: 'exact' }],
    [{ data_type: 'int' }, { kind: 'exact' }],
    [
      { data_type: 'datetime', datetime_precision: 0 },
      { kind: 'round', castType: 'datetime(0)', instant: false },
    ],
    [
      { data_type: 'timestamp', datetime_precision: 3 },
      { kind: 'round', castType: 'datetime(3)', instant: true },
    ],
    [
      { data_type: 'time', datetime_precision: 2 },
      { kind: 'round', castType: 'time(2)' },
    ],
    [{ data_type: 'date' }, { kind: 'round', castType: 'date' }],
    [
      { data_type: 'decimal', numeric_precision: 12, numeric_scale: 4 },
      { kind: 'round', castType: 'decimal(12,4)' },
    ],
    // A name that is not a plain identifier is never written into SQL.
    [text('utf8mb4_general_ci; drop table t'), { kind: 'exact' }],
  ])('%j', (row, rule) => {
    expect(keyColumnRule(row)).toMatchObject(rule)
  })
})
