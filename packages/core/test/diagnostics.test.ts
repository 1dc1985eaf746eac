/**
 * The `node:diagnostics_channel` events of getOrCreate, getOrCreateMany and updateOrCreate ("Observability" in
 * the README): each outcome publishes exactly the documented events with the documented fields, and
 * subscribing changes no result. Real Postgres (postgres.js and node-postgres: the store calls counted are the
 * statements drizzle sent) and the memory store.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import diagnosticsChannel from 'node:diagnostics_channel'
import {
  advisoryLockStrategy,
  configureDiagnostics,
  constraintStrategy,
  DIAGNOSTICS_CHANNELS,
  type GetOrCreateManyTrace,
  type GetOrCreateResult,
  type GetOrCreateTrace,
  getOrCreate,
  getOrCreateMany,
  memoryStore,
  type UpdateOrCreateTrace,
  updateOrCreate,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { oneStatementStore, type SluggedRow } from './support/one-statement-store.js'
import { openPg, type PgHarness } from './support/pg.js'
import { itemsDdl, itemsTable } from './support/tables.js'

type EventName = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'

/** Every event of one tracing channel while subscribed: its name, and a snapshot of the context then. */
interface Recorded<Context> {
  readonly events: { name: EventName; context: Context; snapshot: Record<string, unknown> }[]
  /** The contexts, one per call, in the order the calls started. */
  contexts(): Context[]
  /** The event names of one call's context, in order. */
  namesOf(context: Context): EventName[]
  stop(): void
}

function record<Context extends object>(name: string): Recorded<Context> {
  const channel = diagnosticsChannel.tracingChannel<unknown, Context>(name)
  const events: Recorded<Context>['events'] = []
  const on = (event: EventName) => (message: unknown) => {
    const context = message as Context
    // keyHash is a getter on the prototype: a spread would not copy it.
    const snapshot: Record<string, unknown> = { ...(context as Record<string, unknown>) }
    if ('keyHash' in context) snapshot.keyHash = (context as { keyHash?: unknown }).keyHash
    events.push({ name: event, context, snapshot })
  }
  const handlers = {
    start: on('start'),
    end: on('end'),
    asyncStart: on('asyncStart'),
    asyncEnd: on('asyncEnd'),
    error: on('error'),
  }
  channel.subscribe(handlers)
  return {
    events,
    contexts: () => [...new Set(events.map((event) => event.context))],
    namesOf: (context) => events.filter((event) => event.context === context).map((event) => event.name),
    stop: () => channel.unsubscribe(handlers),
  }
}

/** The one context a single call published, checking that it published exactly the events of a settled call. */
function only<Context extends object>(recorded: Recorded<Context>, failed = false): Context {
  const contexts = recorded.contexts()
  expect(contexts).toHaveLength(1)
  const context = contexts[0] as Context
  expect(recorded.namesOf(context)).toEqual(
    failed ? ['start', 'end', 'error', 'asyncStart', 'asyncEnd'] : ['start', 'end', 'asyncStart', 'asyncEnd'],
  )
  return context
}

const HASH = /^[0-9a-f]{16}$/

let recorded: Recorded<GetOrCreateTrace> | undefined
afterEach(() => {
  recorded?.stop()
  recorded = undefined
  configureDiagnostics({ keyValues: false })
})

describe('getorcreate:getOrCreate on the memory store', () => {
  test('nothing is published without a subscriber, and the channel has none of ours', async () => {
    const channel = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.getOrCreate)
    expect(channel.hasSubscribers).toBe(false)
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    await expect(getOrCreate(store, { slug: 'a' }, { title: 'A' })).resolves.toMatchObject({ created: true })
    expect(channel.hasSubscribers).toBe(false)
  })

  test('a hit, a create and an invalid key: the fields at each event', async () => {
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    const created = await getOrCreate(store, { slug: 'a' }, { title: 'A' })
    const context = only(recorded)
    expect(context).toMatchObject({
      operation: 'getOrCreate',
      store: store.name,
      strategy: 'constraint',
      outcome: 'created',
      attempts: 1,
      storeCalls: 1 + 1,
      lockWaitMs: 0,
      missed: true,
      joined: false,
    })
    expect(context.keyHash).toMatch(HASH)
    expect(context).not.toHaveProperty('key')
    expect(context).not.toHaveProperty('errorCode')
    expect(context.result).toBe(created)
    // At start the call is known, its outcome not yet.
    const start = recorded.events[0]?.snapshot
    expect(start).toMatchObject({ operation: 'getOrCreate', store: store.name, keyHash: context.keyHash })
    expect(start).not.toHaveProperty('outcome')
    // The outcome is there by asyncEnd (a subscriber ending a span reads it then).
    expect(recorded.events.find((event) => event.name === 'asyncEnd')?.snapshot).toMatchObject({
      outcome: 'created',
    })

    recorded.stop()
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    await getOrCreate(store, { slug: 'a' }, { title: 'ignored' })
    const hit = only(recorded)
    expect(hit).toMatchObject({ outcome: 'hit', attempts: 0, storeCalls: 1, missed: false, joined: false })
    // The same key of the same store hashes alike; another key does not.
    expect(hit.keyHash).toBe(context.keyHash)

    recorded.stop()
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    await getOrCreate(store, { slug: 'b' }, { title: 'B' })
    expect(only(recorded).keyHash).not.toBe(context.keyHash)

    recorded.stop()
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    const refused = await getOrCreate(store, {} as never).catch((error: unknown) => error)
    const invalid = only(recorded, true)
    expect(invalid).toMatchObject({ outcome: 'error', errorCode: 'INVALID_KEY', storeCalls: 0, attempts: 0 })
    expect(invalid.error).toBe(refused)
    // Refused before its key was checked: no hash of it.
    expect(invalid.keyHash).toBeUndefined()
  })

  test('key values only after configureDiagnostics({ keyValues: true }), as a frozen copy', async () => {
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    configureDiagnostics({ keyValues: true })
    const key = { slug: 'person@example.com' }
    await getOrCreate(store, key)
    const context = only(recorded)
    expect(context.key).toEqual(key)
    expect(context.key).not.toBe(key)
    expect(Object.isFrozen(context.key)).toBe(true)
    configureDiagnostics({ keyValues: false })
    recorded.stop()
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    await getOrCreate(store, key)
    expect(only(recorded)).not.toHaveProperty('key')
  })

  test('configureDiagnostics refuses what it cannot use', () => {
    expect(() => configureDiagnostics(null as never)).toThrow(TypeError)
    expect(() => configureDiagnostics({ keyValues: 'yes' as never })).toThrow(/keyValues must be a boolean/)
  })

  test('single flight: the calls that joined say so, with no store call, and the leader’s outcome', async () => {
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    const results = await Promise.all(
      [1, 2, 3].map(() => getOrCreate(store, { slug: 'burst' }, { title: 't' })),
    )
    expect(results.filter((result) => result.created)).toHaveLength(1)
    const contexts = recorded.contexts()
    expect(contexts).toHaveLength(3)
    const [leader, ...joined] = contexts as GetOrCreateTrace[]
    expect(leader).toMatchObject({ outcome: 'created', joined: false, storeCalls: 2 })
    // Their call found no row at first (the leader's read missed) and got another call's: raced.
    for (const context of joined) {
      expect(context).toMatchObject({ outcome: 'raced', joined: true, storeCalls: 0, attempts: 0 })
    }

    recorded.stop()
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    await Promise.all([1, 2].map(() => getOrCreate(store, { slug: 'burst' })))
    expect(recorded.contexts().map((context) => [context.outcome, context.joined])).toEqual([
      ['hit', false],
      ['hit', true],
    ])
  })

  test('single flight with a store that reads and inserts in one statement: one store call, or the way back to reading', async () => {
    const { base, store, state } = oneStatementStore()
    const statements = () => state.sent.filter((call) => call.startsWith('one '))
    const burst = async (slug: string) => {
      recorded?.stop()
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      const results = await Promise.all([1, 2, 3].map(() => getOrCreate(store, { slug }, { title: 'mine' })))
      const [leader, ...joined] = recorded.contexts()
      for (const context of joined) expect(context).toMatchObject({ joined: true, storeCalls: 0 })
      return { results, leader }
    }

    // The store's first shared operation reads first, and misses: a read and an insert.
    let { leader } = await burst('a')
    expect(leader).toMatchObject({ outcome: 'created', storeCalls: 2 })
    expect(statements()).toEqual([])
    // Now one statement per shared operation: a fresh key is created by it alone.
    ;({ leader } = await burst('b'))
    expect(leader).toMatchObject({ outcome: 'created', storeCalls: 1, attempts: 1, missed: true })
    // A key it finds: a hit in one store call (and the next shared operation reads first).
    let results: GetOrCreateResult<SluggedRow>[]
    ;({ leader, results } = await burst('a'))
    expect(leader).toMatchObject({ outcome: 'hit', storeCalls: 1, attempts: 0, missed: false })
    expect(results.every((result) => !result.created)).toBe(true)
    expect(statements()).toEqual(['one b', 'one a'])
    ;({ leader } = await burst('a'))
    expect(leader).toMatchObject({ outcome: 'hit', storeCalls: 1 })
    expect(statements()).toHaveLength(2)

    // Declined (nothing written): the read, then the insert.
    await burst('c') // misses, read first
    state.mode = 'declined'
    ;({ leader, results } = await burst('d'))
    expect(leader).toMatchObject({ outcome: 'created', storeCalls: 3, attempts: 1 })
    expect(results.map((result) => result.created)).toEqual([true, false, false])

    // A row committed after the statement's snapshot blocked its insert: a fresh read finds it.
    state.mode = 'committed meanwhile'
    ;({ leader, results } = await burst('e'))
    expect(leader).toMatchObject({ outcome: 'raced', storeCalls: 2, attempts: 1, missed: true })
    expect(results.every((result) => !result.created && result.row.title === 'theirs')).toBe(true)
    expect(base.rows().map((row) => row.slug)).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  test("single calls where the keys met for the first time mostly had no row: each way's trace", async () => {
    const { store, state } = oneStatementStore()
    for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `f${i}` }, { title: 'mine' })
    state.sent.length = 0
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    // A key met for the first time: one statement creates it.
    await getOrCreate(store, { slug: 'new' }, { title: 'mine' })
    // A key met lately: one plain read.
    await getOrCreate(store, { slug: 'f3' }, { title: 'mine' })
    // A row committed after the statement's snapshot blocked its insert: a fresh read finds it.
    state.mode = 'committed meanwhile'
    const raced = await getOrCreate(store, { slug: 'late' }, { title: 'mine' })
    expect(raced).toMatchObject({ created: false, row: { title: 'theirs' } })
    // Declined (nothing written): the read, then the insert.
    state.mode = 'declined'
    await getOrCreate(store, { slug: 'declined' }, { title: 'mine' })
    expect(state.sent).toEqual([
      'one new',
      'find f3',
      'one late',
      'find late',
      'one declined',
      'find declined',
    ])
    const traced = recorded.contexts().map(({ outcome, storeCalls, attempts, missed }) => ({
      outcome,
      storeCalls,
      attempts,
      missed,
    }))
    expect(traced).toEqual([
      { outcome: 'created', storeCalls: 1, attempts: 1, missed: true },
      { outcome: 'hit', storeCalls: 1, attempts: 0, missed: false },
      { outcome: 'raced', storeCalls: 2, attempts: 1, missed: true },
      { outcome: 'created', storeCalls: 3, attempts: 1, missed: true },
    ])
  })

  test('a strategy that fills no trace: a row returned uncreated after asking for values is raced', async () => {
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    await getOrCreate(store, { slug: 'there' })
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    const custom = {
      name: 'custom',
      async getOrCreate<Row, Key, Values>(s: typeof store, key: Key, values: () => Promise<Values>) {
        await values()
        return { row: (await s.find(key as never)) as Row, created: false }
      },
    }
    await getOrCreate(store, { slug: 'there' }, {}, custom as never)
    expect(only(recorded)).toMatchObject({ strategy: 'custom', outcome: 'raced', storeCalls: 0 })
  })

  test('a store bound to the start event (AsyncLocalStorage) holds around the whole call, as with tracePromise', async () => {
    const inner = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    await getOrCreate(inner, { slug: 'there' })
    const spans = new AsyncLocalStorage<string>()
    const seen: (string | undefined)[] = []
    // Each store call notes the span it runs in: the strategy's reads and inserts, after awaits.
    const store = Object.assign(Object.create(inner) as typeof inner, {
      find: (key: { slug: string }) => {
        seen.push(spans.getStore())
        return inner.find(key)
      },
    })
    const channel = diagnosticsChannel.tracingChannel<unknown, GetOrCreateTrace>(
      DIAGNOSTICS_CHANNELS.getOrCreate,
    )
    channel.start.bindStore(spans, (context) => `span of ${context.keyHash}`)
    recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
    try {
      const strategy = constraintStrategy()
      const [hit, created] = await Promise.all([
        getOrCreate(store, { slug: 'there' }, {}, strategy),
        getOrCreate(store, { slug: 'fresh' }, { title: 'F' }, strategy),
      ])
      expect(hit.created).toBe(false)
      expect(created.created).toBe(true)
      const [first, second] = recorded.contexts()
      // Each call's store calls ran in its own span; none outside one.
      expect(seen).toContain(`span of ${first?.keyHash}`)
      expect(seen).toContain(`span of ${second?.keyHash}`)
      expect(seen.every((span) => span?.startsWith('span of '))).toBe(true)
      expect(first?.result).toBe(hit)
      expect(second?.result).toBe(created)
      // Outside the calls, no span.
      expect(spans.getStore()).toBeUndefined()
    } finally {
      channel.start.unbindStore(spans)
    }
  })
})

describe.each(['postgres.js', 'node-postgres'] as const)(
  'getorcreate:getOrCreate on Postgres via %s',
  (driver) => {
    let h: PgHarness
    beforeAll(async () => {
      h = await openPg(driver, 16)
    })
    afterAll(async () => {
      await h.close()
    })

    async function makeItems(index: boolean) {
      const name = h.table()
      await h.exec(itemsDdl(name, index ? `create unique index on ${name} (slug)` : ''))
      const table = itemsTable(name)
      const store = drizzleStore(h.db, table)
      // The catalog look-up, once per store, is not a store call: make it before counting.
      await getOrCreate(store, { slug: 'warm-up' }, {}, index ? constraintStrategy() : advisoryLockStrategy())
      return { name, store }
    }

    /** The statements drizzle sent since `from` that read or wrote `table`. */
    const sentOn = (name: string, from: number) =>
      h.queries.slice(from).filter((q) => q.includes(`"${name}"`))

    test('hit, created and raced: store calls are the statements sent', async () => {
      const { name, store } = await makeItems(true)
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      let from = h.queries.length
      await getOrCreate(store, { slug: 'a' }, { title: 'A' })
      const created = only(recorded)
      expect(created).toMatchObject({ outcome: 'created', storeCalls: 2, attempts: 1, store: store.name })
      expect(sentOn(name, from)).toHaveLength(created.storeCalls)

      recorded.stop()
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      from = h.queries.length
      await getOrCreate(store, { slug: 'a' })
      const hit = only(recorded)
      expect(hit).toMatchObject({ outcome: 'hit', storeCalls: 1, attempts: 0 })
      expect(sentOn(name, from)).toHaveLength(hit.storeCalls)

      // Raced: another writer inserts the key after this call's read missed, before its insert.
      recorded.stop()
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      from = h.queries.length
      const result = await getOrCreate(store, { slug: 'r' }, async () => {
        await h.exec(`insert into ${name} (slug, title) values ('r', 'theirs')`)
        return { title: 'mine' }
      })
      expect(result).toMatchObject({ created: false, row: { title: 'theirs' } })
      const raced = only(recorded)
      expect(raced).toMatchObject({ outcome: 'raced', storeCalls: 3, attempts: 1, missed: true })
      expect(sentOn(name, from)).toHaveLength(raced.storeCalls)
    })

    test('a database error: outcome error, the error itself, no code of ours', async () => {
      const { name, store } = await makeItems(true)
      await h.exec(`alter table ${name} add constraint title_short check (length(title) < 5)`)
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      const error = await getOrCreate(store, { slug: 'x' }, { title: 'far too long' }).catch(
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(Error)
      const context = only(recorded, true)
      expect(context).toMatchObject({ outcome: 'error', storeCalls: 2, attempts: 1 })
      expect(context.error).toBe(error)
      expect(context).not.toHaveProperty('errorCode')
    })

    test('advisoryLockStrategy: its own name, one store call on a hit, two on a create', async () => {
      const { name, store } = await makeItems(false)
      const strategy = advisoryLockStrategy()
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      const from = h.queries.length
      await getOrCreate(store, { slug: 'adv' }, { title: 'A' }, strategy)
      const created = only(recorded)
      expect(created).toMatchObject({
        strategy: 'advisory-lock',
        outcome: 'created',
        storeCalls: 2,
        attempts: 1,
      })
      // The find, then one transaction: BEGIN, the lock, the find-or-insert, COMMIT.
      expect(sentOn(name, from).length).toBeGreaterThanOrEqual(2)
      recorded.stop()
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      await getOrCreate(store, { slug: 'adv' }, {}, strategy)
      expect(only(recorded)).toMatchObject({ outcome: 'hit', storeCalls: 1 })
    })

    test('subscribing changes no result: 16 callers per key on 8 keys, one created per key, as counted', async () => {
      const { name, store } = await makeItems(true)
      recorded = record<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
      const strategy = constraintStrategy({ singleFlight: false })
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`)
      const results = await Promise.all(
        keys.flatMap((slug) =>
          Array.from({ length: 16 }, (_, i) => getOrCreate(store, { slug }, { title: `c${i}` }, strategy)),
        ),
      )
      const rows = await h.rows(
        `select slug, count(*)::int as n from ${name} where slug like 'k%' group by slug`,
      )
      expect(rows.map((row) => Number(row.n))).toEqual(keys.map(() => 1))
      expect(results.filter((result) => result.created)).toHaveLength(keys.length)
      const contexts = recorded.contexts()
      expect(contexts).toHaveLength(keys.length * 16)
      for (const slug of keys) {
        const ids = new Set(results.filter((r) => r.row.slug === slug).map((r) => r.row.id))
        expect(ids.size).toBe(1)
      }
      // Every call told its outcome, and exactly one per key created.
      const byHash = new Map<string, GetOrCreateTrace[]>()
      for (const context of contexts) {
        expect(recorded.namesOf(context)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
        byHash.set(context.keyHash as string, [...(byHash.get(context.keyHash as string) ?? []), context])
      }
      expect(byHash.size).toBe(keys.length)
      for (const calls of byHash.values()) {
        expect(calls.filter((context) => context.outcome === 'created')).toHaveLength(1)
        expect(
          calls.every((context) => ['created', 'hit', 'raced'].includes(context.outcome as string)),
        ).toBe(true)
      }
      const created = contexts
        .filter((context) => context.outcome === 'created')
        .map((context) => context.result)
      expect(created).toEqual(expect.arrayContaining(results.filter((result) => result.created)))
    })
  },
)

describe('getorcreate:getOrCreateMany and getorcreate:updateOrCreate', () => {
  test('getOrCreateMany: items, created, outcome', async () => {
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    await getOrCreate(store, { slug: 'old' })
    const many = record<GetOrCreateManyTrace>(DIAGNOSTICS_CHANNELS.getOrCreateMany)
    try {
      await getOrCreateMany(store, [
        { key: { slug: 'old' } },
        { key: { slug: 'new' } },
        { key: { slug: 'new' } },
      ])
      expect(only(many)).toMatchObject({
        operation: 'getOrCreateMany',
        store: store.name,
        strategy: 'constraint',
        items: 3,
        created: 1,
        outcome: 'ok',
      })
      many.stop()
      const failing = record<GetOrCreateManyTrace>(DIAGNOSTICS_CHANNELS.getOrCreateMany)
      try {
        await expect(getOrCreateMany(store, [{ key: {} }])).rejects.toThrow(/items\[0\]/)
        expect(only(failing, true)).toMatchObject({ outcome: 'error', errorCode: 'INVALID_KEY', items: 1 })
      } finally {
        failing.stop()
      }
    } finally {
      many.stop()
    }
  })

  test('updateOrCreate: created, then updated, with the key hash', async () => {
    const store = memoryStore<{ slug: string; title?: string }>({ uniqueBy: [['slug']] })
    const update = record<UpdateOrCreateTrace>(DIAGNOSTICS_CHANNELS.updateOrCreate)
    try {
      await updateOrCreate(store, { slug: 'u' }, { title: 'one' })
      await updateOrCreate(store, { slug: 'u' }, { title: 'two' })
      const [first, second] = update.contexts()
      expect(first).toMatchObject({ operation: 'updateOrCreate', outcome: 'created', strategy: 'constraint' })
      expect(second).toMatchObject({ outcome: 'updated' })
      expect(first?.keyHash).toMatch(HASH)
      expect(second?.keyHash).toBe(first?.keyHash)
    } finally {
      update.stop()
    }
  })
})
