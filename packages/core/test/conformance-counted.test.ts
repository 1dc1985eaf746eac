/**
 * The conformance suite's call-counting wrapper (`counted` in src/testing/harness.ts) hands every case a store
 * with every member of the store it wraps: the flags lock strategies read (`inTransaction`, `checksFence`),
 * every method (the names before 0.3 and `insertTriggers` included), and members the suite does not know. A
 * member it dropped would make the suite test another store than the one given (a lock strategy would not
 * see `inTransaction: true` and refuse the store; the constraint strategy would not see `insertTriggers` and
 * could not tell `KEY_REWRITTEN`). No database: the stores here only record their calls.
 */
import type { ConformanceStore } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { counted, suiteOf } from '../src/testing/harness.js'

/**
 * Every member of `Store`, and whether it is a method: `satisfies` makes the compiler fail this file when
 * `Store` gains a member that is not listed here, so a new member is checked too.
 */
const STORE_MEMBERS = {
  name: 'value',
  fields: 'value',
  inTransaction: 'value',
  checksFence: 'value',
  find: 'method',
  insert: 'method',
  insertIfAbsentAtomically: 'method',
  insertIfAbsent: 'method',
  insertIfAbsentUnderLock: 'method',
  insertIfAbsentFenced: 'method',
  insertUnlessFound: 'method',
  findMany: 'method',
  insertManyIfAbsentAtomically: 'method',
  findOrInsertManyAtomically: 'method',
  update: 'method',
  findOrInsertUnderAdvisoryLock: 'method',
  uniqueness: 'method',
  uniqueIndexFix: 'method',
  checkKey: 'method',
  lockIdentity: 'method',
  insertTriggers: 'method',
} as const satisfies Record<keyof ConformanceStore, 'value' | 'method'>

/** The methods the wrapper counts: every one that may reach the database. */
const COUNTED = Object.keys(STORE_MEMBERS).filter(
  (member) =>
    STORE_MEMBERS[member as keyof typeof STORE_MEMBERS] === 'method' &&
    member !== 'uniqueIndexFix' &&
    member !== 'checkKey',
)

/** The values of the non-method members of the store with every member. */
const VALUES: Record<string, unknown> = {
  name: 'every-member',
  fields: ['id', 'slug'],
  inTransaction: true,
  checksFence: true,
}

/** A member the suite does not know, keyed by a symbol. */
const EXTRA = Symbol('extra')

/** One call a store received. */
interface Seen {
  readonly member: PropertyKey
  readonly self: unknown
  readonly args: unknown[]
}

/** What the method `member` answers: a value of its own, so that the wrapper's answer can be traced to it. */
function answerOf(member: PropertyKey): string {
  return `answer of ${String(member)}`
}

/**
 * A plain store with every member of `Store` (each method records its calls and answers {@link answerOf}),
 * plus members no `Store` has: a method, a value and a symbol-keyed method.
 */
function storeWithEveryMember(seen: Seen[]): ConformanceStore {
  const record = (member: PropertyKey) =>
    function (this: unknown, ...args: unknown[]) {
      seen.push({ member, self: this, args })
      return answerOf(member)
    }
  const store: Record<PropertyKey, unknown> = {}
  for (const [member, kind] of Object.entries(STORE_MEMBERS)) {
    store[member] = kind === 'method' ? record(member) : VALUES[member]
  }
  store.vacuum = record('vacuum')
  store.region = 'eu-west'
  store[EXTRA] = record(EXTRA)
  return store as unknown as ConformanceStore
}

/** A store whose members are inherited (two classes deep), read through getters and private fields. */
class BaseStore {
  #finds = 0
  /** Changes after the wrapper is made: the wrapper must read it, not copy it. */
  #inTransaction = false
  get name(): string {
    return 'class-store'
  }
  get inTransaction(): boolean {
    return this.#inTransaction
  }
  begin(): void {
    this.#inTransaction = true
  }
  /** Reads a private field: called with another `this`, it throws. */
  async find(): Promise<undefined> {
    this.#finds++
    return undefined
  }
  finds(): number {
    return this.#finds
  }
  async insert(values: Record<string, unknown>): Promise<Record<string, unknown>> {
    return { id: 1, ...values }
  }
}

class TriggeredStore extends BaseStore {
  get checksFence(): boolean {
    return true
  }
  async insertTriggers(): Promise<readonly string[]> {
    return ['rewrite_slug']
  }
}

/**
 * Every member of `value` as a property read finds it: own and inherited keys, strings and symbols, but not
 * those of `Object.prototype` nor `constructor`.
 */
function memberKeys(value: object): PropertyKey[] {
  const keys = new Set<PropertyKey>()
  for (
    let level: object | null = value;
    level !== null && level !== Object.prototype;
    level = Object.getPrototypeOf(level) as object | null
  ) {
    for (const key of Reflect.ownKeys(level)) if (key !== 'constructor') keys.add(key)
  }
  return [...keys]
}

/** The names of {@link memberKeys}, sorted, as a failure can print them (a symbol as `Symbol(extra)`). */
function memberNames(value: object): string[] {
  return memberKeys(value)
    .map((key) => (typeof key === 'symbol' ? key.toString() : String(key)))
    .sort()
}

/** `store[key]`, for keys the static type does not name. */
function member(store: object, key: PropertyKey): unknown {
  return (store as Record<PropertyKey, unknown>)[key]
}

describe("the conformance suite's call-counting wrapper", () => {
  test('forwards every member of a store that has every Store member, and members no Store has', async () => {
    const seen: Seen[] = []
    const store = storeWithEveryMember(seen)
    const { store: wrapper, calls, total } = counted(store)

    expect(memberNames(wrapper)).toEqual(memberNames(store))
    for (const key of memberKeys(store)) {
      const value = member(store, key)
      if (typeof value !== 'function') {
        expect(member(wrapper, key), `wrapper.${String(key)}`).toBe(value)
        continue
      }
      const forwarded = member(wrapper, key)
      expect(typeof forwarded, `wrapper.${String(key)}`).toBe('function')
      const args = [{ slug: String(key) }, { title: 't' }, { token: 1 }]
      const before = seen.length
      const answer = (forwarded as (...a: unknown[]) => unknown).apply(wrapper, args)
      expect(answer, `wrapper.${String(key)}(...) answers what the store answered`).toBe(answerOf(key))
      expect(seen.slice(before), `wrapper.${String(key)}(...) calls the store's method once`).toEqual([
        { member: key, self: store, args },
      ])
    }

    // Each counted method was called once, and counted once; the rest are not counted.
    expect(Object.keys(calls).sort()).toEqual([...COUNTED].sort())
    for (const method of COUNTED) expect(calls[method as keyof typeof calls], method).toBe(1)
    expect(total()).toBe(COUNTED.length)
    // The flags the strategies read, as the store has them.
    expect([wrapper.name, wrapper.fields, wrapper.inTransaction, wrapper.checksFence]).toEqual([
      'every-member',
      ['id', 'slug'],
      true,
      true,
    ])
  })

  test('reads inherited members, getters and private fields from the store itself, when they are read', async () => {
    const store = new TriggeredStore()
    const { store: wrapper, calls } = counted(store as unknown as ConformanceStore)
    expect(memberNames(wrapper)).toEqual(memberNames(store))
    expect([wrapper.name, wrapper.inTransaction, wrapper.checksFence]).toEqual(['class-store', false, true])
    store.begin() // the store's flag changes after it was wrapped: the wrapper tells the store's current value
    expect(wrapper.inTransaction).toBe(true)
    expect(await wrapper.find({ slug: 'a' })).toBe(undefined) // `this` is the store: its private field works
    expect([store.finds(), calls.find]).toEqual([1, 1])
    expect(await wrapper.insertTriggers?.()).toEqual(['rewrite_slug'])
    expect(calls.insertTriggers).toBe(1)
  })

  test('the store every case is given (withTable) is that wrapper: every member there, every call counted', async () => {
    const seen: Seen[] = []
    const store = storeWithEveryMember(seen)
    const suite = suiteOf(
      { describe: () => undefined, test: () => undefined, expect },
      {
        name: 'every member',
        table: async () => ({ store, count: async () => 0, insertBehind: async () => undefined }),
      },
    )
    let checked = false
    await suite.withTable('unique', async (table, counter) => {
      expect(memberNames(table.store)).toEqual(memberNames(store))
      expect([table.store.inTransaction, table.store.checksFence]).toEqual([true, true])
      expect(await table.store.insertTriggers?.()).toBe(answerOf('insertTriggers'))
      expect(await table.store.insertUnlessFound?.({ slug: 'a' }, { slug: 'a' })).toBe(
        answerOf('insertUnlessFound'),
      )
      expect([counter.calls.insertTriggers, counter.calls.insertUnlessFound, counter.total()]).toEqual([
        1, 1, 2,
      ])
      checked = true
    })
    expect(checked).toBe(true)
    expect(seen.map((call) => [call.member, call.self === store])).toEqual([
      ['insertTriggers', true],
      ['insertUnlessFound', true],
    ])
  })
})
