/**
 * The constraint strategy's batched reads (`batchReads`, on by default): the plain reads of one store object
 * asked for in one turn of the event loop go as one `findMany`. A memory store with a `findMany` of its own,
 * counted, so that each rule shows in what the store was asked; the conformance suite runs the same on every
 * built-in store against its database.
 */
import {
  advisoryLockStrategy,
  batchedFind,
  constraintStrategy,
  getOrCreate,
  memoryStore,
  type Store,
} from '@getorcreate/core'
import { describe, expect, test, vi } from 'vitest'

type Row = { id: number; slug: string; title?: string; tenant?: string }

/** Every call the store was asked, in order: `find <slug>`, `findMany <slug,slug>`. */
type Log = string[]

const slugsOf = (keys: readonly Partial<Row>[]) => keys.map((key) => key.tenant ?? key.slug).join(',')

/**
 * A memory store (unique by slug, and by slug and tenant) whose `find` and `findMany` are logged; `findMany` answers
 * with `answer` when given (to misbehave), else each key's `find`.
 */
function loggedStore(
  options: {
    answer?: (keys: readonly Partial<Row>[], base: Store<Row>) => Promise<unknown>
    find?: (key: Partial<Row>, base: Store<Row>) => Promise<Row | undefined>
    inTransaction?: boolean
  } = {},
): { store: Store<Row>; log: Log; base: Store<Row> } {
  const base = memoryStore<Row>({ uniqueBy: [['slug'], ['slug', 'tenant']], autoIncrement: 'id' })
  const log: Log = []
  const store: Store<Row> = Object.create(base)
  store.find = (key, findOptions) => {
    log.push(`find${findOptions?.fresh ? ' fresh' : ''} ${slugsOf([key])}`)
    return options.find ? options.find(key, base) : base.find(key, findOptions)
  }
  store.findMany = (keys) => {
    log.push(`findMany ${slugsOf(keys)}`)
    if (options.answer) return options.answer(keys, base) as Promise<(Row | undefined)[]>
    return Promise.all(keys.map((key) => base.find(key)))
  }
  if (options.inTransaction) Object.defineProperty(store, 'inTransaction', { value: true })
  return { store, log, base }
}

/** The strategy under test, without single flight: each call its own read, so that the batch is the reads'. */
const batching = constraintStrategy({ singleFlight: false })

/** `base` holding rows for `slugs`, written around the logged store. */
async function seed(base: Store<Row>, slugs: readonly string[]): Promise<void> {
  for (const slug of slugs) await getOrCreate(base, { slug }, { title: slug.toUpperCase() }, batching)
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('batched reads (constraintStrategy batchReads)', () => {
  test('the first read goes at once; the reads asked for while it is out, in one turn, go as one findMany, in call order; each caller gets its own row', async () => {
    const { store, log, base } = loggedStore()
    await seed(base, ['a', 'b', 'c'])
    const results = await Promise.all(
      ['a', 'b', 'c', 'b'].map((slug) => getOrCreate(store, { slug }, undefined, batching)),
    )
    expect(log).toEqual(['find a', 'findMany b,c,b'])
    expect(results.map((result) => [result.row.slug, result.row.title, result.created])).toEqual([
      ['a', 'A', false],
      ['b', 'B', false],
      ['c', 'C', false],
      ['b', 'B', false],
    ])
    expect(results[1]?.row === results[3]?.row).toBe(false)
  })

  test('a read with none out is a find at once; reads of different turns are different batches', async () => {
    const { store, log, base } = loggedStore({
      // The first read answers only when the test says: it stays out over the turns below.
      find: (key, base) => (key.slug === 'slow' ? slow.then(() => base.find(key)) : base.find(key)),
    })
    let release = () => {}
    const slow = new Promise<void>((resolve) => {
      release = resolve
    })
    await seed(base, ['a', 'b', 'c', 'd', 'slow'])
    await getOrCreate(store, { slug: 'a' }, undefined, batching)
    const held = getOrCreate(store, { slug: 'slow' }, undefined, batching)
    const first = Promise.all([
      getOrCreate(store, { slug: 'b' }, undefined, batching),
      getOrCreate(store, { slug: 'c' }, undefined, batching),
    ])
    await tick()
    const second = Promise.all([
      getOrCreate(store, { slug: 'a' }, undefined, batching),
      getOrCreate(store, { slug: 'd' }, undefined, batching),
    ])
    await tick()
    const alone = getOrCreate(store, { slug: 'c' }, undefined, batching)
    await Promise.all([first, second, alone])
    release()
    await held
    expect(log).toEqual(['find a', 'find slow', 'findMany b,c', 'findMany a,d', 'find c'])
  })

  test('misses in a batch go on to be created, each once; hits are not', async () => {
    const { store, log, base } = loggedStore()
    await seed(base, ['a'])
    const made: string[] = []
    const defaults = (slug: string) => () => {
      made.push(slug)
      return { title: 'new' }
    }
    const results = await Promise.all(
      ['a', 'x', 'y'].map((slug) => getOrCreate(store, { slug }, defaults(slug), batching)),
    )
    expect(results.map((result) => [result.row.slug, result.created])).toEqual([
      ['a', false],
      ['x', true],
      ['y', true],
    ])
    expect(made).toEqual(['x', 'y'])
    expect(log).toEqual(['find a', 'findMany x,y'])
  })

  test('keys of different shapes: one findMany per shape of two or more, a find for a shape alone', async () => {
    const { store, log, base } = loggedStore()
    await seed(base, ['a', 'b', 'z'])
    await getOrCreate(base, { slug: 's1', tenant: 't1' }, undefined, batching)
    await getOrCreate(base, { slug: 's2', tenant: 't2' }, undefined, batching)
    await Promise.all([
      getOrCreate(store, { slug: 'z' }, undefined, batching), // goes at once: the rest wait for the turn
      getOrCreate(store, { slug: 'a' }, undefined, batching),
      getOrCreate(store, { slug: 's1', tenant: 't1' }, undefined, batching),
      getOrCreate(store, { slug: 'b' }, undefined, batching),
      getOrCreate(store, { slug: 's2', tenant: 't2' }, undefined, batching),
    ])
    expect(log).toEqual(['find z', 'findMany a,b', 'findMany t1,t2'])
    log.length = 0
    await Promise.all([
      getOrCreate(store, { slug: 'z' }, undefined, batching),
      getOrCreate(store, { slug: 'a' }, undefined, batching),
      getOrCreate(store, { slug: 's1', tenant: 't1' }, undefined, batching),
      getOrCreate(store, { slug: 'b' }, undefined, batching),
    ])
    expect(log).toEqual(['find z', 'findMany a,b', 'find t1'])
  })

  test('a findMany that fails: each read again alone, each caller its own row or its own error', async () => {
    const { store, log, base } = loggedStore({
      answer: () => Promise.reject(new Error('connection lost')),
      find: (key, base) =>
        key.slug === 'bad' ? Promise.reject(new Error('bad key for the database')) : base.find(key),
    })
    await seed(base, ['a', 'b'])
    const outcomes = await Promise.allSettled(
      ['a', 'bad', 'b'].map((slug) => getOrCreate(store, { slug }, undefined, batching)),
    )
    expect(
      outcomes.map((outcome) =>
        outcome.status === 'fulfilled' ? outcome.value.row.slug : (outcome.reason as Error).message,
      ),
    ).toEqual(['a', 'bad key for the database', 'b'])
    expect(log).toEqual(['find a', 'findMany bad,b', 'find bad', 'find b'])
  })

  test('a findMany that throws at once, or answers other than one entry per key: each read again alone', async () => {
    const throwing = loggedStore({
      answer: () => {
        throw new Error('sync')
      },
    })
    await seed(throwing.base, ['z', 'a', 'b'])
    // 'z' goes at once; 'a' and 'b', asked for while it is out, are the batch.
    const thrown = await Promise.all(
      ['z', 'a', 'b'].map((slug) => getOrCreate(throwing.store, { slug }, undefined, batching)),
    )
    expect(thrown.map((result) => result.row.slug)).toEqual(['z', 'a', 'b'])
    expect(throwing.log).toEqual(['find z', 'findMany a,b', 'find a', 'find b'])
    for (const answer of [[], 'rows', [undefined]]) {
      const short = loggedStore({ answer: () => Promise.resolve(answer) })
      await seed(short.base, ['z', 'a', 'b'])
      const results = await Promise.all(
        ['z', 'a', 'b'].map((slug) => getOrCreate(short.store, { slug }, undefined, batching)),
      )
      expect(results.map((result) => [result.row.slug, result.created])).toEqual([
        ['z', false],
        ['a', false],
        ['b', false],
      ])
      expect(short.log).toEqual(['find z', 'findMany a,b', 'find a', 'find b'])
    }
  })

  test('a findMany whose answer throws when read (an entry with a throwing getter): each read again alone, no caller left waiting', async () => {
    const rigged = loggedStore({
      answer: (keys) =>
        Promise.resolve(
          Object.defineProperty(
            keys.map(() => undefined),
            1,
            {
              get() {
                throw new Error('an entry that cannot be read')
              },
            },
          ),
        ),
    })
    await seed(rigged.base, ['z', 'a', 'b'])
    const results = await Promise.all(
      ['z', 'a', 'b'].map((slug) => getOrCreate(rigged.store, { slug }, undefined, batching)),
    )
    expect(results.map((result) => [result.row.slug, result.created])).toEqual([
      ['z', false],
      ['a', false],
      ['b', false],
    ])
    expect(rigged.log).toEqual(['find z', 'findMany a,b', 'find a', 'find b'])
  })

  test('a findMany that answers null for a key is refused with a TypeError, never taken for a row', async () => {
    const nulls = loggedStore({ answer: (keys) => Promise.resolve(keys.map(() => null)) })
    await seed(nulls.base, ['z'])
    const settled = await Promise.allSettled(
      ['z', 'a', 'b'].map((slug) => getOrCreate(nulls.store, { slug }, { title: 'new' }, batching)),
    )
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { created: false } })
    for (const result of settled.slice(1)) {
      expect(result).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) })
      expect(result.status === 'rejected' && String(result.reason.message)).toMatch(
        /find \(or findMany\) answered null/,
      )
    }
    // Nothing written for the keys whose read was refused.
    expect(await nulls.base.find({ slug: 'a' })).toBeUndefined()
    expect(await nulls.base.find({ slug: 'b' })).toBeUndefined()
  })

  test('a findMany that answers one row object for two keys: the second caller gets a copy', async () => {
    const shared: Row = { id: 1, slug: 'a', title: 'A' }
    const { store, base } = loggedStore({ answer: () => Promise.resolve([shared, shared]) })
    await seed(base, ['a', 'z'])
    const [, first, second] = await Promise.all([
      getOrCreate(store, { slug: 'z' }, undefined, batching), // at once; the two below are the batch
      getOrCreate(store, { slug: 'a' }, undefined, batching),
      getOrCreate(store, { slug: 'a' }, undefined, batching),
    ])
    expect(first?.row).toBe(shared)
    expect(second?.row).toEqual(shared)
    expect(second?.row === shared).toBe(false)
  })

  test('batchReads: false, or a store bound to a transaction: one find per call', async () => {
    const off = loggedStore()
    await seed(off.base, ['a', 'b'])
    const unbatched = constraintStrategy({ singleFlight: false, batchReads: false })
    await Promise.all(['a', 'b'].map((slug) => getOrCreate(off.store, { slug }, undefined, unbatched)))
    expect(off.log).toEqual(['find a', 'find b'])
    const inTransaction = loggedStore({ inTransaction: true })
    await seed(inTransaction.base, ['a', 'b'])
    await Promise.all(
      ['a', 'b'].map((slug) => getOrCreate(inTransaction.store, { slug }, undefined, batching)),
    )
    expect(inTransaction.log).toEqual(['find a', 'find b'])
  })

  test('advisoryLockStrategy batches its lock-free reads too; batchReads: false, one find each', async () => {
    for (const batchReads of [true, false]) {
      const { store, log, base } = loggedStore()
      await seed(base, ['z', 'a', 'b'])
      // What the strategy requires of a store (Postgres's); a hit never calls them.
      Object.assign(store, {
        lockIdentity: () => Promise.reject(new Error('a hit takes no lock')),
        findOrInsertUnderAdvisoryLock: () => Promise.reject(new Error('a hit takes no lock')),
      })
      const strategy = advisoryLockStrategy({ singleFlight: false, batchReads })
      const results = await Promise.all(
        ['z', 'a', 'b'].map((slug) => getOrCreate(store, { slug }, undefined, strategy)),
      )
      expect(results.map((result) => [result.row.slug, result.created])).toEqual([
        ['z', false],
        ['a', false],
        ['b', false],
      ])
      expect(log).toEqual(batchReads ? ['find z', 'findMany a,b'] : ['find z', 'find a', 'find b'])
    }
  })

  test('batchedFind on a store without findMany, or bound to a transaction: its find at once; a find that throws: a rejection', async () => {
    const base = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    await base.insert({ slug: 'a' })
    // No findMany: answered by find before any other turn runs (a promise that is already settled).
    let settled = false
    const read = batchedFind(base, { slug: 'a' }).then((row) => {
      settled = true
      return row
    })
    await Promise.resolve()
    await Promise.resolve()
    expect(settled).toBe(true)
    expect((await read)?.slug).toBe('a')
    const { store, log } = loggedStore({ inTransaction: true })
    await Promise.all([batchedFind(store, { slug: 'x' }), batchedFind(store, { slug: 'y' })])
    expect(log).toEqual(['find x', 'find y'])
    const throwing: Store<Row> = Object.assign(Object.create(base) as Store<Row>, {
      find: () => {
        throw new Error('thrown, not rejected')
      },
    })
    await expect(batchedFind(throwing, { slug: 'a' })).rejects.toThrow('thrown, not rejected')
  })

  test("fake timers in the caller's tests (vitest's replace the global setImmediate): a batch is still sent", async () => {
    const { store, log, base } = loggedStore()
    await seed(base, ['z', 'a', 'b'])
    vi.useFakeTimers({ toFake: ['setImmediate', 'setTimeout', 'queueMicrotask'] })
    try {
      const results = await Promise.all(
        ['z', 'a', 'b'].map((slug) => getOrCreate(store, { slug }, undefined, batching)),
      )
      expect(results.map((result) => result.row.slug)).toEqual(['z', 'a', 'b'])
    } finally {
      vi.useRealTimers()
    }
    expect(log).toEqual(['find z', 'findMany a,b'])
  })

  test('batchedFind with a key that is not an object (a strategy written outside core): each read alone, each its own answer', async () => {
    const { store, log, base } = loggedStore()
    await seed(base, ['a', 'z'])
    // 'z' goes at once; the two reads asked for while it is out are the batch, which cannot be split by key
    // shape (null has no fields to read): one find per read instead, never a throw in the timer that would
    // leave every caller waiting.
    const outcomes = await Promise.allSettled([
      batchedFind(store, { slug: 'z' }),
      batchedFind(store, null as unknown as Partial<Row>),
      batchedFind(store, { slug: 'a' }),
    ])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(log).toEqual(['find z', 'find a']) // the logged find threw on null before it logged
  })

  test('batchReads must be a boolean', () => {
    for (const value of ['yes', 1, null]) {
      expect(() => constraintStrategy({ batchReads: value as unknown as boolean })).toThrow(
        /batchReads must be a boolean/,
      )
      expect(() => advisoryLockStrategy({ batchReads: value as unknown as boolean })).toThrow(
        /batchReads must be a boolean/,
      )
    }
  })
})
