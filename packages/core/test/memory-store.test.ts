/**
 * memoryStore holds its own deep copies: nothing a caller holds (a returned row, the values it passed) shares
 * a mutable value with what is stored; what it cannot copy exactly is refused with a stable code.
 */
import { ConflictingDefaultsError, getOrCreate, memoryStore } from '@getorcreate/core'
import { describe, expect, test } from 'vitest'

type Row = Record<string, unknown> & { id?: number; slug: string }

/** A row with a value of every kind memoryStore holds, each nested or mutable. */
const rich = () => ({
  meta: { tags: ['a', 'b'], nested: { depth: 2 } },
  list: [1, { x: 1 }],
  at: new Date('2024-05-01T10:00:00.000Z'),
  bytes: new Uint8Array([1, 2, 3]),
  buffer: Buffer.from('ab'),
  floats: new Float64Array([1.5]),
  map: new Map<string, unknown>([['k', { v: 1 }]]),
  set: new Set([1, 2]),
  big: 2n ** 70n,
  none: null,
})

/** Change every nested value of `row` in place. */
function vandalize(row: Record<string, unknown>): void {
  const r = row as ReturnType<typeof rich>
  r.meta.tags.push('c')
  r.meta.nested.depth = 99
  ;(r.list[1] as { x: number }).x = 99
  r.at.setTime(0)
  r.bytes[0] = 9
  r.buffer[0] = 0
  r.floats[0] = -1
  r.map.set('k', 'changed')
  r.set.add(3)
}

const store = () => memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })

describe('memoryStore copies rows deeply, in and out', () => {
  test('changing the nested values of a row it returned changes neither what it holds nor what others get', async () => {
    const rows = store()
    const created = await getOrCreate(rows, { slug: 'a' }, rich())
    vandalize(created.row)
    const hit = await getOrCreate(rows, { slug: 'a' })
    expect(hit.row).toEqual({ id: 1, slug: 'a', ...rich() })
    vandalize(hit.row)
    const found = await rows.find({ slug: 'a' })
    expect(found).toEqual({ id: 1, slug: 'a', ...rich() })
    vandalize(found as Row)
    const listed = rows.rows()
    vandalize(listed[0] as Row)
    const inserted = await rows.insert({ slug: 'b', ...rich() })
    vandalize(inserted)
    expect(rows.rows()).toEqual([
      { id: 1, slug: 'a', ...rich() },
      { id: 2, slug: 'b', ...rich() },
    ])
  })

  test('changing the defaults or values object after the call changes nothing stored', async () => {
    const rows = store()
    const defaults = rich()
    await getOrCreate(rows, { slug: 'a' }, defaults)
    vandalize(defaults)
    const values = { slug: 'b', ...rich() }
    await rows.insert(values)
    vandalize(values)
    const lazy = rich()
    await getOrCreate(rows, { slug: 'c' }, async () => lazy)
    vandalize(lazy)
    expect(rows.rows().map(({ id: _, slug: __, ...rest }) => rest)).toEqual([rich(), rich(), rich()])
  })

  test('copies keep their kinds, null prototypes, and shared and circular references', async () => {
    const rows = store()
    const shared = { n: 1 }
    const circular: Record<string, unknown> = { name: 'loop' }
    circular.self = circular
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 })
    const sparse = [1, 2, 3]
    delete sparse[1] // a hole must stay a hole
    const { row } = await getOrCreate(
      rows,
      { slug: 'a' },
      { ...rich(), pair: [shared, shared], circular, bare, sparse },
    )
    const r = row as unknown as ReturnType<typeof rich> & Record<string, unknown>
    expect(r.at).toBeInstanceOf(Date)
    expect(Buffer.isBuffer(r.buffer)).toBe(true)
    expect(r.bytes).toBeInstanceOf(Uint8Array)
    expect(r.floats).toBeInstanceOf(Float64Array)
    expect(r.map).toBeInstanceOf(Map)
    expect(r.set).toBeInstanceOf(Set)
    expect(typeof r.big).toBe('bigint')
    const [first, second] = r.pair as object[]
    expect(first).toBe(second)
    expect(first).not.toBe(shared)
    const loop = r.circular as Record<string, unknown>
    expect(loop.self).toBe(loop)
    expect(loop).not.toBe(circular)
    expect(Object.getPrototypeOf(r.bare)).toBe(null)
    expect(1 in (r.sparse as unknown[])).toBe(false)
  })

  test('a value it cannot copy exactly is refused with CONFLICTING_DEFAULTS, naming its path; nothing stored', async () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const rows = store()
    for (const [value, path, what] of [
      [() => 1, 'bad', 'a function'],
      [Symbol('s'), 'bad', 'a symbol'],
      [new Money(1), 'bad', 'an instance of Money'],
      [{ deep: [1, /x/] }, 'bad.deep[1]', 'an instance of RegExp'],
      [new Map([['k', new WeakMap()]]), 'bad.get()', 'an instance of WeakMap'],
    ] as const) {
      const error = await getOrCreate(rows, { slug: 'x' }, { bad: value }).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(ConflictingDefaultsError)
      expect((error as ConflictingDefaultsError).code).toBe('CONFLICTING_DEFAULTS')
      expect((error as Error).message).toContain(`"${path}" is ${what}`)
      await expect(rows.insert({ slug: 'y', bad: value })).rejects.toThrow(ConflictingDefaultsError)
    }
    expect(rows.rows()).toEqual([])
  })
})
