/**
 * Every throw site of `@getorcreate/core` that a user can reach through its public API, one row each, with the
 * class the README's "Errors" section promises for it:
 *
 * - a `GetOrCreateError` (its `code`, its `name`, `isGetOrCreateError` true) for what is about the key, the
 *   values, the unique index, a race or a lock;
 * - a `TypeError` or a `RangeError` for a programming error: an argument or option of the wrong type or out
 *   of range, a bad argument to a store's member, a custom store or strategy that breaks its contract;
 * - the database's own error, as drizzle throws it, for a condition of the database (a table that does not
 *   exist on Postgres); on MySQL / MariaDB and SQLite a table that does not exist is a plain `Error` whose
 *   message says so; `memoryStore`'s duplicate on another unique set an `Error` with `code: 'UNIQUE_VIOLATION'`;
 * - what the caller's own code threw (a `defaults` function, `boundedEach`'s task), as it was.
 *
 * Each row asserts the exact class (not a subclass, not a base class), `code` (the error's own, `undefined`
 * where it has none), the message part that tells the site from the others, and that `isGetOrCreateError`
 * and `instanceof GetOrCreateError` agree with the class. A row whose call does not throw fails.
 */

import {
  advisoryLockIdFor,
  advisoryLockStrategy,
  boundedEach,
  ConflictingDefaultsError,
  configureDiagnostics,
  constraintStrategy,
  encodeKey,
  GetOrCreateError,
  getOrCreate,
  getOrCreateMany,
  InvalidKeyError,
  isGetOrCreateError,
  KeyRewrittenError,
  LockInTransactionError,
  LockLostError,
  LockMisconfiguredError,
  LockUnavailableError,
  MissingUniqueConstraintError,
  memoryStore,
  RowVanishedError,
  SerializationConflictError,
  type Store,
  type Strategy,
  updateOrCreate,
  validateKey,
} from '@getorcreate/core'
import {
  drizzleStore,
  mysqlFencesSql,
  mysqlFencesTable,
  pgFencesSql,
  pgFencesTable,
  pruneFences,
  sqliteFencesSql,
  sqliteFencesTable,
} from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { DrizzleQueryError, sql } from 'drizzle-orm'
import { decimal, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { integer as pgInteger, pgTable, text as pgText, serial } from 'drizzle-orm/pg-core'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'
import { openPg, type PgHarness } from './support/pg.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'

/** An error class, as a row names it. */
type ErrorClass = (new (...args: never[]) => object) & { readonly prototype: object }

/** One throw site, and what it must throw. */
interface Case {
  /** The public call, and where the error is thrown (source file). */
  readonly site: string
  /** The error's class: exactly this one. */
  readonly is: ErrorClass
  /** The error's own `code`: a GetOrCreateError's; for another error the one it carries, if any. */
  readonly code?: string
  /** Where the error is the database's, wrapped by drizzle: the `code` of its `cause` (the driver's error). */
  readonly causeCode?: string
  /** A part of the message that tells this site from the others of its class. */
  readonly message: RegExp
  /** The call; it must throw (synchronously or by rejecting). */
  readonly run: () => unknown
}

/** The error `run` throws or rejects with; fails the row when it returns. */
async function thrownBy(run: () => unknown): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  expect.fail('the call did not throw')
}

/** The row's assertions: the exact class, its code, its message, and what isGetOrCreateError says. */
async function expectCase(c: Case): Promise<void> {
  const error = await thrownBy(c.run)
  expect(error).toBeInstanceOf(c.is)
  expect(Object.getPrototypeOf(error), `exactly ${c.is.name}`).toBe(c.is.prototype)
  const ours = c.is.prototype instanceof GetOrCreateError
  expect(isGetOrCreateError(error)).toBe(ours)
  expect(error instanceof GetOrCreateError).toBe(ours)
  const { code, name, message, cause } = error as {
    code?: unknown
    name?: unknown
    message?: unknown
    cause?: unknown
  }
  if (ours) {
    expect(c.code, 'a GetOrCreateError row names its code').toBeDefined()
    expect(name).toBe(c.is.name)
  }
  expect(code).toBe(c.code)
  expect(String(message)).toMatch(c.message)
  if (c.causeCode !== undefined) expect((cause as { code?: unknown } | undefined)?.code).toBe(c.causeCode)
}

/** What the caller's own code throws: it must reach the caller as it was. */
class OwnError extends Error {}

type Item = { id?: number; slug: string | null; email?: string | null; meta?: unknown }

/** A memory store with a unique slug and a unique email, holding `{ slug: 'a', email: 'taken' }`. */
async function memoryItems() {
  const store = memoryStore<Item>({ uniqueBy: [['slug'], ['email']], autoIncrement: 'id' })
  await getOrCreate(store, { slug: 'a' }, { email: 'taken' })
  return store
}

/** A store of its own (not a database) whose insert is always refused and whose reads never find the row. */
function refusingStore(triggers: readonly string[] = []): Store<Item, { slug: string }, Partial<Item>> {
  return {
    name: 'refusing',
    find: async () => undefined,
    insert: async (values) => values as Item,
    insertIfAbsentAtomically: async () => undefined,
    uniqueness: async () => 'enforced',
    ...(triggers.length > 0 && { insertTriggers: async () => [...triggers] }),
  }
}

/** A store of its own with only `find` and `insert`: no atomic insert, no update. */
function plainStore(): Store<Item, { slug: string }, Partial<Item>> {
  return { name: 'plain', find: async () => undefined, insert: async (values) => values as Item }
}

/** A strategy whose `getOrCreateMany` answers no result whatever it is asked. */
const brokenManyStrategy: Strategy = {
  name: 'broken',
  getOrCreate: () => Promise.reject(new Error('not called')),
  getOrCreateMany: async () => [],
}

const NO_DATABASE: Case[] = [
  {
    site: 'getOrCreate: store (get-or-create.ts)',
    is: TypeError,
    message: /getOrCreate: store must be a Store/,
    run: () => getOrCreate(null as never, { slug: 'a' } as never),
  },
  {
    site: 'getOrCreate: strategy (get-or-create.ts)',
    is: TypeError,
    message: /getOrCreate: strategy must be a Strategy/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: 'a' }, undefined, {} as never),
  },
  {
    site: 'getOrCreate: a key that is not a plain object (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /must be a plain object of field → value, got an array/,
    run: () => getOrCreate(memoryStore<Item>(), [] as never),
  },
  {
    site: 'getOrCreate: a key with symbol properties (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /symbol properties/,
    run: () => getOrCreate(memoryStore<Item>(), { [Symbol('s')]: 1 } as never),
  },
  {
    site: 'getOrCreate: an empty key (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /The key is empty/,
    run: () => getOrCreate(memoryStore<Item>(), {} as never),
  },
  {
    site: 'getOrCreate: an undefined key value (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /"slug" is undefined/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: undefined } as never),
  },
  {
    site: 'getOrCreate: NaN (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /"id" is NaN/,
    run: () => getOrCreate(memoryStore<Item>(), { id: Number.NaN }),
  },
  {
    site: 'getOrCreate: an invalid Date (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /"slug" is an invalid Date/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: new Date(Number.NaN) } as never),
  },
  {
    site: 'getOrCreate: a value of an unsupported type (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /"slug" is an instance of Map/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: new Map() } as never),
  },
  {
    site: 'validateKey: a field the table lacks (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /"nope", which the table does not have/,
    run: () => validateKey({ nope: 1 }, ['slug']),
  },
  {
    site: 'encodeKey (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /got a string/,
    run: () => encodeKey('items', 'slug' as never),
  },
  {
    site: 'advisoryLockIdFor (key.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /The key is empty/,
    run: () => advisoryLockIdFor('pg:public.items', {}),
  },
  {
    site: 'getOrCreate: defaults that are not a plain object (key.ts)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /defaults must be a plain object/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: 'a' }, 5 as never),
  },
  {
    site: 'getOrCreate: defaults giving a key field another value (key.ts)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /defaults give key field "slug" a different value/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: 'a' }, { slug: 'b' }),
  },
  {
    site: 'getOrCreate: a defaults function whose result conflicts, after the miss (key.ts)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /defaults give key field "slug" a different value/,
    run: async () => getOrCreate(await memoryItems(), { slug: 'b' }, () => ({ slug: 'c' })),
  },
  {
    site: "getOrCreate: a defaults function's own error (new-row-values.ts), unchanged",
    is: OwnError,
    message: /^mine$/,
    run: async () =>
      getOrCreate(await memoryItems(), { slug: 'b' }, () => {
        throw new OwnError('mine')
      }),
  },
  {
    site: 'getOrCreate: memoryStore given a value it cannot copy (memory-store.ts, insert)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /"meta" is a function, which memoryStore cannot copy exactly/,
    run: async () => getOrCreate(await memoryItems(), { slug: 'b' }, { meta: () => 1 }),
  },
  {
    site: 'getOrCreate: memoryStore without uniqueBy (constraint-strategy.ts)',
    is: MissingUniqueConstraintError,
    code: 'MISSING_UNIQUE_CONSTRAINT',
    message: /No unique index or constraint on memory\d+ covers exactly \(slug\)/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: 'a' }),
  },
  {
    site: 'getOrCreate: a store without insertIfAbsentAtomically (constraint-strategy.ts)',
    is: MissingUniqueConstraintError,
    code: 'MISSING_UNIQUE_CONSTRAINT',
    message: /give store plain an insertIfAbsentAtomically/,
    run: () => getOrCreate(plainStore(), { slug: 'a' }),
  },
  {
    site: 'getOrCreate: every insert refused, no row found (constraint-strategy.ts)',
    is: RowVanishedError,
    code: 'ROW_VANISHED',
    message: /blocked the insert but was deleted before it could be read, 3 times/,
    run: () => getOrCreate(refusingStore(), { slug: 'a' }),
  },
  {
    site: 'getOrCreate: every insert refused, the table has BEFORE INSERT triggers (constraint-strategy.ts)',
    is: KeyRewrittenError,
    code: 'KEY_REWRITTEN',
    message: /trigger\(s\) items_before run before each insert/,
    run: () => getOrCreate(refusingStore(['items_before']), { slug: 'a' }),
  },
  {
    site: "getOrCreate: memoryStore's duplicate on another unique set (memory-store.ts, insert)",
    is: Error,
    code: 'UNIQUE_VIOLATION',
    message: /duplicate value for unique \(email\)/,
    run: async () => getOrCreate(await memoryItems(), { slug: 'b' }, { email: 'taken' }),
  },
  {
    site: 'memoryStore insert: values that are not a plain object (memory-store.ts)',
    is: TypeError,
    message: /values must be a plain object/,
    run: () => memoryStore<Item>().insert(42 as never),
  },
  {
    site: 'memoryStore update: values that are not a plain object (memory-store.ts)',
    is: TypeError,
    message: /values must be a plain object/,
    run: () => memoryStore<Item>().update({ slug: 'a' }, 42 as never),
  },
  {
    site: "updateOrCreate: memoryStore's duplicate on another unique set (memory-store.ts, update)",
    is: Error,
    code: 'UNIQUE_VIOLATION',
    message: /duplicate value for unique \(email\)/,
    run: async () => {
      const store = await memoryItems()
      await getOrCreate(store, { slug: 'b' })
      return updateOrCreate(store, { slug: 'b' }, { email: 'taken' })
    },
  },
  {
    site: 'updateOrCreate: memoryStore given a value it cannot copy (memory-store.ts, update)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /"meta" is a function, which memoryStore cannot copy exactly/,
    run: async () => updateOrCreate(await memoryItems(), { slug: 'a' }, { meta: () => 1 }),
  },
  {
    site: 'getOrCreateMany: store (get-or-create-many.ts)',
    is: TypeError,
    message: /getOrCreateMany: store must be a Store/,
    run: () => getOrCreateMany(null as never, []),
  },
  {
    site: 'getOrCreateMany: items (get-or-create-many.ts)',
    is: TypeError,
    message: /getOrCreateMany: items must be an array/,
    run: () => getOrCreateMany(memoryStore<Item>(), 'items' as never),
  },
  {
    site: 'getOrCreateMany: strategy (get-or-create-many.ts)',
    is: TypeError,
    message: /getOrCreateMany: strategy must be a Strategy/,
    run: () => getOrCreateMany(memoryStore<Item>(), [], 'constraint' as never),
  },
  {
    site: 'getOrCreateMany: an item that is not a plain object (get-or-create-many.ts)',
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /items\[0\] must be a plain object/,
    run: () => getOrCreateMany(memoryStore<Item>(), [null as never]),
  },
  {
    site: "getOrCreateMany: an item's key (get-or-create-many.ts)",
    is: InvalidKeyError,
    code: 'INVALID_KEY',
    message: /items\[1\]\.key: The key is empty/,
    run: () => getOrCreateMany(memoryStore<Item>(), [{ key: { slug: 'a' } }, { key: {} as never }]),
  },
  {
    site: "getOrCreateMany: an item's defaults (get-or-create-many.ts)",
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /items\[0\]\.defaults: defaults give key field "slug"/,
    run: () => getOrCreateMany(memoryStore<Item>(), [{ key: { slug: 'a' }, defaults: { slug: 'b' } }]),
  },
  {
    site: "getOrCreateMany: a strategy's getOrCreateMany answering the wrong number (get-or-create-many.ts)",
    is: TypeError,
    message: /strategy broken's getOrCreateMany answered 0 results for 1 keys/,
    run: () => getOrCreateMany(memoryStore<Item>(), [{ key: { slug: 'a' } }], brokenManyStrategy),
  },
  {
    site: 'updateOrCreate: store (update-or-create.ts)',
    is: TypeError,
    message: /updateOrCreate: store must be a Store/,
    run: () => updateOrCreate(null as never, { slug: 'a' } as never, {}),
  },
  {
    site: 'updateOrCreate: a store without update (update-or-create.ts)',
    is: TypeError,
    message: /updateOrCreate: plain has no update/,
    run: () => updateOrCreate(plainStore(), { slug: 'a' }, {}),
  },
  {
    site: 'updateOrCreate: options (update-or-create.ts)',
    is: TypeError,
    message: /updateOrCreate: options must be a plain object/,
    run: () => updateOrCreate(memoryStore<Item>(), { slug: 'a' }, {}, 'fast' as never),
  },
  {
    site: 'updateOrCreate: strategy (update-or-create.ts)',
    is: TypeError,
    message: /updateOrCreate: strategy must be a Strategy/,
    run: () => updateOrCreate(memoryStore<Item>(), { slug: 'a' }, {}, { strategy: {} as never }),
  },
  {
    site: 'updateOrCreate: values that are not a plain object (update-or-create.ts)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /values must be a plain object/,
    run: () => updateOrCreate(memoryStore<Item>(), { slug: 'a' }, 7 as never),
  },
  {
    site: 'updateOrCreate: values giving a key field another value (update-or-create.ts)',
    is: ConflictingDefaultsError,
    code: 'CONFLICTING_DEFAULTS',
    message: /values give key field "slug" a different value.*An update never moves a row/,
    run: () => updateOrCreate(memoryStore<Item>(), { slug: 'a' }, { slug: 'b' }),
  },
  {
    site: 'updateOrCreate: the row deleted between found and updated, 3 times (update-or-create.ts)',
    is: RowVanishedError,
    code: 'ROW_VANISHED',
    message: /deleted between being found and being updated, 3 times/,
    run: async () => {
      const store = await memoryItems()
      return updateOrCreate({ ...store, update: async () => undefined }, { slug: 'a' }, { email: 'new' })
    },
  },
  {
    site: 'constraintStrategy: maxAttempts (constraint-strategy.ts)',
    is: RangeError,
    message: /constraintStrategy: maxAttempts must be a whole number/,
    run: () => constraintStrategy({ maxAttempts: 0 }),
  },
  {
    site: 'constraintStrategy: singleFlight (constraint-strategy.ts)',
    is: TypeError,
    message: /constraintStrategy: singleFlight must be a boolean/,
    run: () => constraintStrategy({ singleFlight: 'yes' as never }),
  },
  {
    site: 'constraintStrategy: batchReads (constraint-strategy.ts)',
    is: TypeError,
    message: /constraintStrategy: batchReads must be a boolean/,
    run: () => constraintStrategy({ batchReads: 'yes' as never }),
  },
  {
    site: 'advisoryLockStrategy: options (advisory-lock-strategy.ts)',
    is: TypeError,
    message: /advisoryLockStrategy: options must be an object/,
    run: () => advisoryLockStrategy(null as never),
  },
  {
    site: 'advisoryLockStrategy: lockTimeoutMs (advisory-lock-strategy.ts)',
    is: RangeError,
    message: /advisoryLockStrategy: lockTimeoutMs must be a whole number/,
    run: () => advisoryLockStrategy({ lockTimeoutMs: 0 }),
  },
  {
    site: 'advisoryLockStrategy: singleFlight (advisory-lock-strategy.ts)',
    is: TypeError,
    message: /advisoryLockStrategy: singleFlight must be a boolean/,
    run: () => advisoryLockStrategy({ singleFlight: 'yes' as never }),
  },
  {
    site: 'advisoryLockStrategy: batchReads (advisory-lock-strategy.ts)',
    is: TypeError,
    message: /advisoryLockStrategy: batchReads must be a boolean/,
    run: () => advisoryLockStrategy({ batchReads: 'yes' as never }),
  },
  {
    site: 'advisoryLockStrategy on a store that is not Postgres (advisory-lock-strategy.ts)',
    is: LockMisconfiguredError,
    code: 'LOCK_MISCONFIGURED',
    message: /advisoryLockStrategy takes Postgres advisory locks, which memory\d+ cannot/,
    run: () => getOrCreate(memoryStore<Item>(), { slug: 'a' }, undefined, advisoryLockStrategy()),
  },
  {
    site: 'configureDiagnostics: options (diagnostics.ts)',
    is: TypeError,
    message: /configureDiagnostics: options must be an object/,
    run: () => configureDiagnostics(null as never),
  },
  {
    site: 'configureDiagnostics: keyValues (diagnostics.ts)',
    is: TypeError,
    message: /configureDiagnostics: keyValues must be a boolean/,
    run: () => configureDiagnostics({ keyValues: 'yes' as never }),
  },
  {
    site: "boundedEach: the task's own error (bounded-each.ts), unchanged",
    is: OwnError,
    message: /^task$/,
    run: () =>
      boundedEach([1, 2], 1, async () => {
        throw new OwnError('task')
      }),
  },
]

describe('no database (memoryStore, stores and strategies of the test, pure functions)', () => {
  test.each(NO_DATABASE)('$site', expectCase)
})

describe('SQLite (better-sqlite3)', () => {
  const dir = tempDir()
  let h: SqliteHarness
  let items: string
  let fences: string
  beforeAll(() => {
    h = openSqlite(`${dir.dir}/errors.db`)
    items = scratchName('items')
    fences = scratchName('fences')
    h.client.exec(`create table ${items} (id integer primary key, slug text not null unique, code integer,
      email text, title text, k real);
      create unique index ${items}_code on ${items} (code)`)
    h.client.exec(sqliteFencesSql(fences))
  })
  afterAll(() => {
    h.close()
    dir.remove()
  })

  /** `items` as drizzle declares it (`k` is REAL in the live table). */
  const columns = () => ({
    id: integer('id').primaryKey(),
    slug: text('slug').notNull(),
    code: integer('code'),
    email: text('email'),
    title: text('title'),
    k: text('k'),
  })
  const table = () => sqliteTable(items, columns())
  /** `items` declared with a column the live table lacks. */
  const drifted = () => sqliteTable(items, { ...columns(), nope: text('nope') })
  const store = () => drizzleStore(h.db, table())
  const fenced = () => drizzleStore(h.db, table(), { fences: sqliteFencesTable(fences) })

  const CASES: Case[] = [
    {
      site: 'drizzleStore: a table that is not a drizzle table (drizzle-store.ts)',
      is: TypeError,
      message: /drizzleStore: table must be a drizzle table/,
      run: () => drizzleStore(h.db, {} as never),
    },
    {
      site: 'drizzleStore: options that are not an object (drizzle-store.ts)',
      is: TypeError,
      message: /drizzleStore: options must be an object/,
      run: () => drizzleStore(h.db, table(), 'fenced' as never),
    },
    {
      site: 'drizzleStore: an unknown option (drizzle-store.ts)',
      is: TypeError,
      message: /drizzleStore: unknown option "fence"/,
      run: () => drizzleStore(h.db, table(), { fence: true } as never),
    },
    {
      site: 'drizzleStore: fences of another dialect (sqlite-fences.ts)',
      is: TypeError,
      message: /options\.fences must be a sqlite-core table/,
      run: () => drizzleStore(h.db, table(), { fences: pgFencesTable() } as never),
    },
    {
      site: 'drizzleStore: fences that are not a fences table (fences.ts)',
      is: TypeError,
      message: /options\.fences must be a fences table.*no column lockKey/,
      run: () => drizzleStore(h.db, table(), { fences: table() } as never),
    },
    {
      site: 'drizzleStore: fences on a transaction (sqlite-fences.ts)',
      is: TypeError,
      message: /options\.fences on SQLite needs the database, not a transaction/,
      run: () =>
        h.db.transaction((tx) => {
          drizzleStore(tx, table(), { fences: sqliteFencesTable(fences) })
        }),
    },
    {
      site: 'getOrCreate: a field the table lacks (key.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /"other", which the table does not have/,
      run: () => getOrCreate(store(), { other: 1 } as never),
    },
    {
      site: 'getOrCreate: a value of the wrong type for its column (columns.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /"slug" of .* is a number, but its column takes a string/,
      run: () => getOrCreate(store(), { slug: 1 } as never),
    },
    {
      site: 'getOrCreate: null in a NOT NULL column (columns.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /"slug" of .* is null, but its column is NOT NULL/,
      run: () => getOrCreate(store(), { slug: null } as never),
    },
    {
      site: 'getOrCreate: null under a unique index whose NULLs are distinct (constraint-strategy.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /code of sqlite:.* are null, but its unique index treats NULLs as distinct/,
      run: () => getOrCreate(store(), { code: null }, { slug: 'n' }),
    },
    {
      site: 'getOrCreate: defaults naming a column the table lacks (key.ts)',
      is: ConflictingDefaultsError,
      code: 'CONFLICTING_DEFAULTS',
      message: /defaults name "other", which the table does not have/,
      run: () => getOrCreate(store(), { slug: 'a' }, { other: 1 } as never),
    },
    {
      site: 'getOrCreate: no unique index on the key (constraint-strategy.ts)',
      is: MissingUniqueConstraintError,
      code: 'MISSING_UNIQUE_CONSTRAINT',
      message: /covers exactly \(email\)/,
      run: () => getOrCreate(store(), { email: 'e' }, { slug: 'm' }),
    },
    {
      site: 'getOrCreate: a table that does not exist (sqlite-store.ts, uniqueness): a plain Error',
      is: Error,
      message: /sqliteStore: table missing_\w+ does not exist/,
      run: () =>
        getOrCreate(drizzleStore(h.db, sqliteTable(scratchName('missing'), { slug: text('slug') })), {
          slug: 'a',
        }),
    },
    {
      site: "lockIdentity: a table that does not exist (sqlite-store.ts, the table's facts): a plain Error",
      is: Error,
      message: /sqliteStore: table missing_\w+ does not exist/,
      run: () =>
        drizzleStore(h.db, sqliteTable(scratchName('missing'), { slug: text('slug') })).lockIdentity?.({
          slug: 'a',
        }),
    },
    {
      site: 'lockIdentity: a key column the live table lacks (sqlite-lock-identity.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /"nope" of .* has no column in the live table/,
      run: () => drizzleStore(h.db, drifted()).lockIdentity?.({ nope: 'x' }),
    },
    {
      site: 'lockIdentity: an integer a REAL column would change (sqlite-lock-identity.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /has REAL affinity and would store 9007199254740993/,
      run: () => store().lockIdentity?.({ k: '9007199254740993' }),
    },
    {
      site: 'lockIdentity: a value a REAL column would store as infinite (sqlite-lock-identity.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /would store as an infinite real/,
      run: () => store().lockIdentity?.({ k: '1e999' }),
    },
    {
      site: "getOrCreate inside a transaction whose snapshot predates another connection's write (sqlite-errors.ts)",
      is: SerializationConflictError,
      code: 'SERIALIZATION_CONFLICT',
      message: /SQLITE_BUSY_SNAPSHOT/,
      run: async () => {
        const s = store()
        await s.uniqueness?.(['slug'])
        h.client.exec('begin')
        try {
          expect(await s.find({ slug: 'late' })).toBe(undefined) // this transaction's snapshot
          h.other.prepare(`insert into ${items} (slug) values ('late')`).run()
          return await getOrCreate(s, { slug: 'late' })
        } finally {
          h.client.exec('rollback')
        }
      },
    },
    {
      site: 'insertIfAbsentFenced: an older token than the fence holds (sqlite-fences.ts)',
      is: LockLostError,
      code: 'LOCK_LOST',
      message: /holds a larger token than this writer's \(3\)/,
      run: async () => {
        const s = fenced()
        const lockKey = scratchName('lock')
        await s.insertIfAbsentFenced?.({ slug: 'f1' }, { slug: 'f1' }, { token: 5, lockKey })
        return s.insertIfAbsentFenced?.({ slug: 'f2' }, { slug: 'f2' }, { token: 3, lockKey })
      },
    },
    {
      site: 'insert: a fencing token that is not a non-negative safe integer (fences.ts)',
      is: TypeError,
      message: /A fencing token must be a non-negative safe integer; got -1/,
      run: () => fenced().insert({ slug: 'f3' }, { fence: -1, lockKey: 'k' }),
    },
    {
      site: 'insert: a fencing token without its lock key (fences.ts)',
      is: TypeError,
      message: /A fencing token needs the lock key it belongs to/,
      run: () => fenced().insert({ slug: 'f4' }, { fence: 1, lockKey: '' }),
    },
    {
      site: 'pruneFences: olderThanMs (prune-fences.ts)',
      is: RangeError,
      message: /pruneFences: olderThanMs must be a non-negative number/,
      run: () => pruneFences(h.db, sqliteFencesTable(fences), { olderThanMs: -1 }),
    },
    {
      site: 'pruneFences: fences that are not a table (prune-fences.ts)',
      is: TypeError,
      message: /pruneFences: fences must be a fences table/,
      run: () => pruneFences(h.db, {} as never, { olderThanMs: 1 }),
    },
  ]

  test.each(CASES)('$site', expectCase)
})

describe('PGlite', () => {
  let h: PgHarness
  let items: string
  let fences: string
  let rewritten: string
  beforeAll(async () => {
    h = await openPg('pglite')
    items = h.table('items')
    fences = h.table('fences')
    rewritten = h.table('rewritten')
    await h.exec(`create table ${items} (id serial primary key, slug text unique, code integer unique,
      span int4range, title text)`)
    await h.exec(pgFencesSql(fences))
    await h.exec(`create table ${rewritten} (id serial primary key, slug text unique);
      create function ${rewritten}_lower() returns trigger language plpgsql as
        $$ begin new.slug := lower(new.slug); return new; end $$;
      create trigger ${rewritten}_before before insert on ${rewritten} for each row
        execute function ${rewritten}_lower()`)
  })
  afterAll(async () => {
    await h.exec(`drop function if exists ${rewritten}_lower() cascade`)
    await h.close()
  })

  /** `items` as drizzle declares it (`span` is an int4range in the live table). */
  const columns = () => ({
    id: serial('id').primaryKey(),
    slug: pgText('slug'),
    code: pgInteger('code'),
    span: pgText('span'),
    title: pgText('title'),
  })
  const table = () => pgTable(items, columns())
  /** `items` declared with a column the live table lacks. */
  const drifted = () => pgTable(items, { ...columns(), nope: pgText('nope') })
  const store = () => drizzleStore(h.db, table())
  const lock = { id: 1n, timeoutMs: 1_000 }

  const CASES: Case[] = [
    {
      site: 'drizzleStore: fences of another dialect (pg-fences.ts)',
      is: TypeError,
      message: /options\.fences must be a pg-core table/,
      run: () => drizzleStore(h.db, table(), { fences: sqliteFencesTable() } as never),
    },
    {
      site: 'getOrCreate: a table that does not exist: the database error (42P01), as drizzle throws it',
      is: DrizzleQueryError,
      causeCode: '42P01',
      message: /^Failed query: /,
      run: () =>
        getOrCreate(drizzleStore(h.db, pgTable(scratchName('missing'), { slug: pgText('slug') })), {
          slug: 'a',
        }),
    },
    {
      site: 'getOrCreate: null under a unique index whose NULLs are distinct (constraint-strategy.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /code of pg:public\.items_\w+ are null, but its unique index treats NULLs as distinct/,
      run: () => getOrCreate(store(), { code: null }),
    },
    {
      site: 'getOrCreate: a trigger rewrites the key (pg-key-check.ts)',
      is: KeyRewrittenError,
      code: 'KEY_REWRITTEN',
      message: /would be stored as \{"slug" : "bob"\}, which the database does not compare equal to the key/,
      run: () =>
        getOrCreate(
          drizzleStore(h.db, pgTable(rewritten, { id: serial('id').primaryKey(), slug: pgText('slug') })),
          { slug: 'Bob' },
        ),
    },
    {
      site: 'advisoryLockStrategy in a REPEATABLE READ transaction (pg-advisory-lock.ts)',
      is: LockInTransactionError,
      code: 'LOCK_IN_TRANSACTION',
      message: /bound to a transaction at REPEATABLE READ or SERIALIZABLE/,
      run: () =>
        h.db.transaction(
          (tx) => getOrCreate(drizzleStore(tx, table()), { slug: 'rr' }, undefined, advisoryLockStrategy()),
          { isolationLevel: 'repeatable read' },
        ),
    },
    {
      site: 'findOrInsertUnderAdvisoryLock: lock.id (pg-advisory-lock.ts)',
      is: TypeError,
      message: /lock\.id must be a signed 64-bit bigint/,
      run: () =>
        store().findOrInsertUnderAdvisoryLock?.({ slug: 'x' }, { slug: 'x' }, { ...lock, id: 2n ** 63n }),
    },
    {
      site: 'findOrInsertUnderAdvisoryLock: lock.timeoutMs (pg-advisory-lock.ts)',
      is: TypeError,
      message: /lock\.timeoutMs must be a whole number/,
      run: () =>
        store().findOrInsertUnderAdvisoryLock?.({ slug: 'x' }, { slug: 'x' }, { ...lock, timeoutMs: 0 }),
    },
    {
      site: 'lockIdentity: a key column the live table lacks (pg-lock-identity.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /"nope" of .* has no column in the live table/,
      run: () => drizzleStore(h.db, drifted()).lockIdentity?.({ nope: 'x' }),
    },
    {
      site: 'lockIdentity: a column whose equality has no canonical form (pg-lock-identity.ts)',
      is: InvalidKeyError,
      code: 'INVALID_KEY',
      message: /"span" of .*int4range.* so no lock key can stand for every spelling/,
      run: () => store().lockIdentity?.({ span: '[1,2)' }),
    },
    {
      site: 'insertIfAbsentFenced: an older token than the fence holds (pg-fences.ts)',
      is: LockLostError,
      code: 'LOCK_LOST',
      message: /holds a larger token than this writer's \(3\)/,
      run: async () => {
        const s = drizzleStore(h.db, table(), { fences: pgFencesTable(fences) })
        const lockKey = scratchName('lock')
        await s.insertIfAbsentFenced?.({ slug: 'f1' }, { slug: 'f1' }, { token: 5, lockKey })
        return s.insertIfAbsentFenced?.({ slug: 'f2' }, { slug: 'f2' }, { token: 3, lockKey })
      },
    },
    {
      site: 'pruneFences: a table that is not a fences table (fences.ts)',
      is: TypeError,
      message: /must be a fences table.*no column lockKey/,
      run: () => pruneFences(h.db, table() as never, { olderThanMs: 1 }),
    },
  ]

  test.each(CASES)('$site', expectCase)
})

describe('Postgres (postgres.js): what needs a second session', () => {
  let h: PgHarness
  let items: string
  beforeAll(async () => {
    h = await openPg('postgres.js', 4)
    items = h.table('items')
    await h.exec(`create table ${items} (id serial primary key, slug text, title text)`)
    await h.exec(`create unique index on ${items} (slug)`)
  })
  afterAll(async () => {
    await h.close()
  })

  const table = () =>
    pgTable(items, { id: serial('id').primaryKey(), slug: pgText('slug'), title: pgText('title') })

  const CASES: Case[] = [
    {
      site: 'getOrCreate: a table that does not exist: the database error (42P01), as drizzle throws it',
      is: DrizzleQueryError,
      causeCode: '42P01',
      message: /^Failed query: /,
      run: () =>
        getOrCreate(drizzleStore(h.db, pgTable(scratchName('missing'), { slug: pgText('slug') })), {
          slug: 'a',
        }),
    },
    {
      site: 'getOrCreate at REPEATABLE READ, the row committed after the snapshot (pg-errors.ts)',
      is: SerializationConflictError,
      code: 'SERIALIZATION_CONFLICT',
      message: /created the row for this key of .* after this transaction's snapshot/,
      run: () =>
        h.db.transaction(
          async (tx) => {
            await tx.execute(sql.raw(`select count(*) from ${items}`)) // the snapshot: the key is missing
            await getOrCreate(drizzleStore(h.db, table()), { slug: 'late' }) // another session commits it
            return getOrCreate(drizzleStore(tx, table()), { slug: 'late' })
          },
          { isolationLevel: 'repeatable read' },
        ),
    },
    {
      site: "advisoryLockStrategy: another transaction holds the key's lock (pg-advisory-lock.ts)",
      is: LockUnavailableError,
      code: 'LOCK_UNAVAILABLE',
      message: /Could not take the advisory lock -?\d+ \(pg_advisory_xact_lock\) .* within 50 ms/,
      run: async () => {
        const store = drizzleStore(h.db, table())
        const identity = await store.lockIdentity?.({ slug: 'held' })
        if (identity === undefined) expect.fail('a Postgres store has lockIdentity')
        const id = advisoryLockIdFor(identity.table, identity.key as Record<string, unknown>)
        const session = await h.session?.()
        if (!session) throw new Error('postgres.js has sessions')
        await session.exec(`begin; select pg_advisory_xact_lock(${id})`)
        try {
          return await getOrCreate(
            store,
            { slug: 'held' },
            undefined,
            advisoryLockStrategy({ lockTimeoutMs: 50 }),
          )
        } finally {
          await session.exec('rollback')
          await session.release()
        }
      },
    },
  ]

  test.each(CASES)('$site', expectCase)
})

describe('MariaDB (mysql2)', () => {
  let h: MysqlHarness
  let items: string
  let plain: string
  let fences: string
  beforeAll(async () => {
    h = openMysql(4)
    items = h.table('items')
    plain = h.table('plain')
    fences = h.table('fences')
    await h.exec(`create table ${items} (id int auto_increment primary key, slug varchar(50) unique,
      title varchar(50)) engine = InnoDB`)
    await h.exec(`create table ${plain} (slug varchar(50), title varchar(50)) engine = InnoDB`)
    await h.exec(mysqlFencesSql(fences))
  })
  afterAll(async () => {
    await h.close()
  })

  const table = () =>
    mysqlTable(items, {
      id: int('id').autoincrement().primaryKey(),
      slug: varchar('slug', { length: 50 }),
      title: varchar('title', { length: 50 }),
    })
  const missing = () =>
    mysqlTable(scratchName('missing'), { slug: varchar('slug', { length: 50 }), price: decimal('price') })

  const CASES: Case[] = [
    {
      site: 'drizzleStore: fences of another dialect (mysql-fences.ts)',
      is: TypeError,
      message: /options\.fences must be a mysql-core table/,
      run: () => drizzleStore(h.db, table(), { fences: pgFencesTable() } as never),
    },
    {
      site: 'getOrCreate: a table that does not exist (mysql-store.ts, uniqueness): a plain Error',
      is: Error,
      message: /mysqlStore: table missing_\w+ does not exist in the connection's database/,
      run: () => getOrCreate(drizzleStore(h.db, missing()), { slug: 'a' }),
    },
    {
      site: 'find: a table that does not exist, a key that needs its columns (mysql-key-equality.ts): a plain Error',
      is: Error,
      message: /mysqlStore: table missing_\w+ does not exist in the connection's database/,
      run: () => drizzleStore(h.db, missing()).find({ price: '1.5' }),
    },
    {
      site: 'insertIfAbsentFenced: a lock key the MySQL fences table cannot keep (mysql-fences-table.ts)',
      is: TypeError,
      message: /keeps lock keys of up to 255 printable ASCII characters/,
      run: () =>
        drizzleStore(h.db, table(), { fences: mysqlFencesTable(fences) }).insertIfAbsentFenced?.(
          { slug: 'f' },
          { slug: 'f' },
          { token: 1, lockKey: 'clé' },
        ),
    },
    {
      site: 'insert on MySQL 8 (no RETURNING): no way to read the row back (mysql-store.ts)',
      is: TypeError,
      message: /the inserted row could not be read back\. Nothing was written/,
      run: () =>
        createMySqlStore(
          h.db,
          mysqlTable(plain, {
            slug: varchar('slug', { length: 50 }),
            title: varchar('title', { length: 50 }),
          }),
          { version: '8.0.36' },
        ).insert({ slug: 'unread' }),
    },
  ]

  test.each(CASES)('$site', expectCase)

  test('MySQL 8: the insert whose row could not be read back is refused before it is written', async () => {
    const store = createMySqlStore(
      h.db,
      mysqlTable(plain, { slug: varchar('slug', { length: 50 }), title: varchar('title', { length: 50 }) }),
      { version: '8.0.36' },
    )
    const before = h.queries.length
    await expect(store.insert({ slug: 'never' })).rejects.toBeInstanceOf(TypeError)
    expect(h.queries.slice(before).filter((query) => /^insert/i.test(query))).toEqual([])
    expect(await h.rows(`select count(*) as n from ${plain} where slug = 'never'`)).toEqual([{ n: 0 }])
  })
})
