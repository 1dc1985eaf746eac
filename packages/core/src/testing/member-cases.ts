import { isGetOrCreateError } from '../errors.js'
import { badInputCodes } from './core-cases.js'
import { codeOf, membersOf, rejection, SHAPES, type Suite } from './harness.js'

/** A random advisory lock id, so that tests running at once on one database do not share one. */
function randomLockId(): bigint {
  return BigInt.asIntN(64, (BigInt(Math.floor(Math.random() * 2 ** 52)) << 12n) | 0xabcn)
}

/**
 * The cases of optional members, each registered only when {@link StoreConformanceOptions.members} declares
 * it (the tests are declared before any table exists), and the one case, always registered, that holds the
 * declaration to what the tables have.
 */
export function registerMemberCases(suite: Suite): void {
  const { test, expect, withTable, run, declared, members, checked } = suite

  test(`optional members: exactly those declared (${members.join(', ') || 'none'})`, async () => {
    const plain = checked.filter((member) => member !== 'insertIfAbsentFenced')
    for (const shape of SHAPES) {
      await withTable(shape, async (table) => {
        const present = membersOf(table, plain)
        const why =
          `the '${shape}' table and its store have ${present.length > 0 ? present.join(', ') : 'none'} of ` +
          `${plain.join(', ')}: list exactly these in members, so that the suite runs their cases`
        expect(present, why).toEqual(members.filter((member) => member !== 'insertIfAbsentFenced'))
      })
    }
    // Fenced writes are asked for: a table made with { fenced: true }.
    await withTable(
      'no-unique',
      async (table) => {
        const fenced = membersOf(table, ['insertIfAbsentFenced']).length > 0
        const why = fenced
          ? 'the table made with { fenced: true } has insertIfAbsentFenced, checksFence and fence(): list insertIfAbsentFenced in members'
          : 'members lists insertIfAbsentFenced, but the table made with { fenced: true } lacks insertIfAbsentFenced, checksFence: true or fence()'
        expect(fenced, why).toBe(members.includes('insertIfAbsentFenced'))
      },
      { fenced: true },
    )
  })

  if (suite.has('insertIfAbsentAtomically')) {
    test('insertIfAbsentAtomically returns the new row, then undefined for the same key; another unique constraint throws', async () => {
      await withTable('unique', async ({ store, count }) => {
        const insertIfAbsentAtomically = declared(store.insertIfAbsentAtomically, 'insertIfAbsentAtomically')
        const row = await insertIfAbsentAtomically.call(store, { slug: 'i' }, { slug: 'i', title: 'I' })
        expect(row?.slug).toBe('i')
        expect(await insertIfAbsentAtomically.call(store, { slug: 'i' }, { slug: 'i', title: 'again' })).toBe(
          undefined,
        )
        // A conflict on the key is `undefined`; on any other unique constraint, the database's own error.
        await insertIfAbsentAtomically.call(store, { slug: 'e1' }, { slug: 'e1', email: 'same@example.com' })
        const direct = await rejection(
          insertIfAbsentAtomically.call(store, { slug: 'e2' }, { slug: 'e2', email: 'same@example.com' }),
        )
        expect(isGetOrCreateError(direct)).toBe(false)
        expect(await count({ slug: 'e2' })).toBe(0)
        expect(await count()).toBe(2)
      })
    })
  }

  if (suite.has('batch')) {
    test('findMany and insertManyIfAbsentAtomically: answers in order; one inserted per new row; another unique constraint throws', async () => {
      await withTable('unique', async ({ store, count }) => {
        const findMany = declared(store.findMany, 'batch')
        const insertMany = declared(store.insertManyIfAbsentAtomically, 'batch')
        await run(store, { slug: 'old' }, { title: 'Old' })
        const found = await findMany.call(store, [{ slug: 'nope' }, { slug: 'old' }])
        expect([found.length, found[0], found[1]?.slug]).toEqual([2, undefined, 'old'])
        const answers = await insertMany.call(store, [
          { key: { slug: 'n1' }, values: { slug: 'n1', title: 'N1' } },
          { key: { slug: 'old' }, values: { slug: 'old', title: 'again' } },
          { key: { slug: 'n1' }, values: { slug: 'n1', title: 'twice' } },
        ])
        expect(answers === undefined).toBe(false)
        const flat = (answers ?? []).map((a) => [a.row?.slug, a.row?.title, a.inserted])
        expect(flat).toEqual([
          ['n1', 'N1', true],
          ['old', 'Old', false],
          ['n1', 'N1', false],
        ])
        expect(String(answers?.[2]?.row?.id)).toBe(String(answers?.[0]?.row?.id))
        await insertMany.call(store, [
          { key: { slug: 'e1' }, values: { slug: 'e1', email: 'same@example.com' } },
        ])
        const other = await rejection(
          insertMany.call(store, [
            { key: { slug: 'e2' }, values: { slug: 'e2', email: 'same@example.com' } },
          ]),
        )
        expect(isGetOrCreateError(other)).toBe(false)
        expect(await count({ slug: 'e2' })).toBe(0)
        expect(await count()).toBe(3)
      })
    })
  }

  if (suite.has('findOrInsertManyAtomically')) {
    test('findOrInsertManyAtomically: rows in order, a found row left as it is, one inserted per new row; another unique constraint throws, nothing written', async () => {
      await withTable('unique', async ({ store, count, insertBehind }) => {
        const findOrInsert = declared(store.findOrInsertManyAtomically, 'findOrInsertManyAtomically')
        await run(store, { slug: 'old' }, { title: 'Old' })
        await insertBehind({ slug: 'behind', title: 'theirs' })
        const answers = await findOrInsert.call(store, [
          { key: { slug: 'n1' }, values: { slug: 'n1', title: 'N1' } },
          { key: { slug: 'old' }, values: { slug: 'old', title: 'again' } },
          { key: { slug: 'behind' }, values: { slug: 'behind', title: 'mine' } },
          { key: { slug: 'n1' }, values: { slug: 'n1', title: 'twice' } },
          { key: { slug: 'n2' }, values: { slug: 'n2', title: null } },
        ])
        // A plain table with a unique index on the key: the store must answer, not decline.
        expect(answers === undefined).toBe(false)
        const flat = (answers ?? []).map((a) => [a.row?.slug, a.row?.title, a.inserted])
        expect(flat).toEqual([
          ['n1', 'N1', true],
          ['old', 'Old', false],
          ['behind', 'theirs', false],
          ['n1', 'N1', false],
          ['n2', null, true],
        ])
        expect(String(answers?.[3]?.row?.id)).toBe(String(answers?.[0]?.row?.id))
        // The rows it answers read as find reads them.
        expect(await store.find({ slug: 'n1' }, { fresh: true })).toEqual(answers?.[0]?.row)
        expect(await store.find({ slug: 'old' }, { fresh: true })).toEqual(answers?.[1]?.row)
        expect(await count()).toBe(4)
        await findOrInsert.call(store, [
          { key: { slug: 'e1' }, values: { slug: 'e1', email: 'same@example.com' } },
        ])
        const other = await rejection(
          findOrInsert.call(store, [
            { key: { slug: 'e0' }, values: { slug: 'e0', email: 'other@example.com' } },
            { key: { slug: 'e2' }, values: { slug: 'e2', email: 'same@example.com' } },
          ]),
        )
        expect(isGetOrCreateError(other)).toBe(false)
        expect(await count({ slug: 'e0' })).toBe(0) // nothing of the statement was written
        expect(await count({ slug: 'e2' })).toBe(0)
        expect(await count()).toBe(5)
      })
    })
  }

  if (suite.has('findOrInsertManyAtomically')) {
    test('findOrInsertManyAtomically with one entry (what a shared getOrCreate sends): inserted once, then found as it is, a row written behind found; another unique constraint throws, nothing written', async () => {
      await withTable('unique', async ({ store, count, insertBehind }) => {
        const findOrInsert = declared(store.findOrInsertManyAtomically, 'findOrInsertManyAtomically')
        const one = async (slug: string, values: Record<string, unknown>) => {
          const answers = await findOrInsert.call(store, [{ key: { slug }, values: { slug, ...values } }])
          // A plain table with a unique index on the key: the store must answer, not decline.
          expect(answers?.length).toBe(1)
          const [answer] = answers ?? []
          return [answer?.row?.slug, answer?.row?.title, answer?.inserted]
        }
        expect(await one('n', { title: 'N' })).toEqual(['n', 'N', true])
        expect(await one('n', { title: 'again' })).toEqual(['n', 'N', false])
        await insertBehind({ slug: 'behind', title: 'theirs' })
        expect(await one('behind', { title: 'mine' })).toEqual(['behind', 'theirs', false])
        const [answer] =
          (await findOrInsert.call(store, [{ key: { slug: 'n' }, values: { slug: 'n' } }])) ?? []
        expect(await store.find({ slug: 'n' }, { fresh: true })).toEqual(answer?.row)
        await one('e1', { email: 'same@example.com' })
        const other = await rejection(one('e2', { email: 'same@example.com' }))
        expect(isGetOrCreateError(other)).toBe(false)
        expect(await count({ slug: 'e2' })).toBe(0)
        expect(await count()).toBe(3)
      })
    })
  }

  if (suite.has('insertIfAbsentUnderLock')) {
    test('insertIfAbsentUnderLock (optional): inserts once, then sees the row, even one written behind its back', async () => {
      await withTable('no-unique', async ({ store, count, insertBehind }) => {
        const underLock = declared(store.insertIfAbsentUnderLock, 'insertIfAbsentUnderLock').bind(store)
        const row = await underLock({ slug: 'u' }, { slug: 'u', title: 'U' })
        expect([row?.slug, row?.title]).toEqual(['u', 'U'])
        // The row it returns reads as find reads it (same fields, same JavaScript values).
        expect(await store.find({ slug: 'u' }, { fresh: true })).toEqual(row)
        expect(await underLock({ slug: 'u' }, { slug: 'u', title: 'again' })).toBe(undefined)
        await insertBehind({ slug: 'behind', title: 'theirs' })
        expect(await underLock({ slug: 'behind' }, { slug: 'behind', title: 'mine' })).toBe(undefined)
        await insertBehind({ slug: 'twice', title: 'one' })
        await insertBehind({ slug: 'twice', title: 'two' })
        expect(await underLock({ slug: 'twice' }, { slug: 'twice' })).toBe(undefined)
        expect(await count()).toBe(4)
      })
      await withTable('composite', async ({ store, count }) => {
        const underLock = declared(store.insertIfAbsentUnderLock, 'insertIfAbsentUnderLock').bind(store)
        const a = await underLock({ slug: 's', prefix: 'a' }, { prefix: 'a', slug: 's' })
        expect([a?.prefix, a?.slug]).toEqual(['a', 's'])
        const b = await underLock({ prefix: 'b', slug: 's' }, { prefix: 'b', slug: 's' })
        expect([b?.prefix, b?.slug]).toEqual(['b', 's'])
        expect(await underLock({ prefix: 'a', slug: 's' }, { prefix: 'a', slug: 's' })).toBe(undefined)
        expect(await count()).toBe(2)
      })
      await withTable('nullable', async ({ store, count }) => {
        const underLock = declared(store.insertIfAbsentUnderLock, 'insertIfAbsentUnderLock').bind(store)
        // NULL in the key matches rows holding NULL there, as find does.
        const first = await underLock({ slug: null }, { slug: null, title: 'null slug' })
        expect(first?.title).toBe('null slug')
        expect(await underLock({ slug: null }, { slug: null, title: 'again' })).toBe(undefined)
        expect(await count()).toBe(1)
      })
      await withTable('unique', async ({ store, count }) => {
        const underLock = declared(store.insertIfAbsentUnderLock, 'insertIfAbsentUnderLock').bind(store)
        await underLock({ slug: 'e1' }, { slug: 'e1', email: 'same@example.com' })
        const error = await rejection(underLock({ slug: 'e2' }, { slug: 'e2', email: 'same@example.com' }))
        expect(isGetOrCreateError(error)).toBe(false) // another unique constraint: the database's own error
        expect(await count()).toBe(1)
      })
    })
  }

  if (suite.has('uniqueIndexFix')) {
    test("uniqueIndexFix names the table and the key's columns, with SQL or a hint; the missing-index error carries them", async () => {
      await withTable('no-unique', async ({ store, count }) => {
        const uniqueIndexFix = declared(store.uniqueIndexFix, 'uniqueIndexFix')
        const fix = await uniqueIndexFix.call(store, ['slug'])
        expect(typeof fix.table === 'string' && fix.table.length > 0).toBe(true)
        expect(fix.columns.length).toBe(1)
        expect(typeof (fix.sql ?? fix.hint)).toBe('string')
        if (suite.enforcedBy === 'index') {
          const error = await rejection(run(store, { slug: 'a' }, { title: 'A' }))
          expect(codeOf(error)).toBe('MISSING_UNIQUE_CONSTRAINT')
          const { table, columns, sql, hint } = error as Record<string, unknown>
          expect({ table, columns, sql, hint }).toEqual({
            table: fix.table,
            columns: fix.columns,
            sql: fix.sql,
            hint: fix.hint,
          })
        }
        expect(await count()).toBe(0)
      })
    })
  }

  if (suite.has('statements')) {
    test('statements: a hit sends one, bad input none', async () => {
      await withTable('unique', async ({ store, count, statements }) => {
        const sent = declared(statements, 'statements')
        await run(store, { slug: 'hit' }, { title: 'H' })
        const beforeHit = sent()
        expect((await run(store, { slug: 'hit' })).created).toBe(false)
        expect(sent() - beforeHit).toBe(1)
        const beforeBadInput = sent()
        const { codes, expected } = await badInputCodes(suite, store)
        expect(codes).toEqual(expected)
        expect(sent()).toBe(beforeBadInput)
        expect(await count()).toBe(1)
      })
    })
  }

  if (suite.has('findOrInsertUnderAdvisoryLock')) {
    test('findOrInsertUnderAdvisoryLock: inserts once, then finds the row (one written behind its back too); racers make one row', async () => {
      await withTable('no-unique', async ({ store, count, insertBehind }) => {
        const underLock = declared(store.findOrInsertUnderAdvisoryLock, 'findOrInsertUnderAdvisoryLock').bind(
          store,
        )
        // A lock of this test's own: other test files may run against the same database at once.
        const lock = { id: randomLockId(), timeoutMs: 10_000 }
        const made = await underLock({ slug: 'a' }, { slug: 'a', title: 'A' }, lock)
        expect([made.created, made.row.slug, made.row.title]).toEqual([true, 'a', 'A'])
        // The row it returns reads as find reads it (same fields, same JavaScript values).
        expect(await store.find({ slug: 'a' }, { fresh: true })).toEqual(made.row)
        expect(await underLock({ slug: 'a' }, { slug: 'a', title: 'again' }, lock)).toEqual({
          created: false,
          row: made.row,
        })
        await insertBehind({ slug: 'behind', title: 'theirs' })
        const behind = await underLock({ slug: 'behind' }, { slug: 'behind', title: 'mine' }, lock)
        expect([behind.created, behind.row.title]).toEqual([false, 'theirs'])
        const racers = Array.from({ length: suite.concurrency }, (_, i) =>
          underLock({ slug: 'race' }, { slug: 'race', title: `r${i}` }, lock),
        )
        const results = await Promise.all(racers)
        expect(results.filter((result) => result.created).length).toBe(1)
        expect(new Set(results.map((result) => JSON.stringify(result.row))).size).toBe(1)
        for (const bad of [
          { id: 1, timeoutMs: 1000 },
          { id: 2n ** 63n, timeoutMs: 1000 },
          { id: 1n, timeoutMs: 0 },
          { id: 1n, timeoutMs: 1.5 },
          { id: 1n, timeoutMs: 2 ** 31 },
        ]) {
          const error = await rejection(underLock({ slug: 'bad' }, { slug: 'bad' }, bad as never))
          expect(error instanceof TypeError, String(error)).toBe(true)
        }
        expect(await count({ slug: 'bad' })).toBe(0)
        expect(await count()).toBe(3)
      })
    })
  }
}
