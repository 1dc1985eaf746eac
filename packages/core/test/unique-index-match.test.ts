import { describe, expect, test } from 'vitest'
import { type CatalogIndex, coveringIndexes, uniquenessOf } from '../src/drizzle/common/unique-index-match.js'

/** A whole unique index on `columns` whose columns may hold NULL; `over` changes any part of it. */
function index(columns: string[], over: Partial<CatalogIndex> = {}): CatalogIndex {
  return {
    name: columns.join('_'),
    columns,
    partial: false,
    expression: false,
    nullsNotDistinct: false,
    notNull: false,
    ...over,
  }
}

describe('uniquenessOf: does a unique index cover exactly the key', () => {
  test('no index, or none on these columns: not enforced', () => {
    expect(uniquenessOf([], ['slug'])).toBe('not-enforced')
    expect(uniquenessOf([index(['name'], { notNull: true })], ['slug'])).toBe('not-enforced')
  })

  test('exactly the key columns, in any order, NOT NULL: enforced', () => {
    expect(uniquenessOf([index(['slug'], { notNull: true })], ['slug'])).toBe('enforced')
    expect(uniquenessOf([index(['b', 'a'], { notNull: true })], ['a', 'b'])).toBe('enforced')
  })

  test('a wider or a narrower index does not cover the key', () => {
    expect(uniquenessOf([index(['a', 'b'], { notNull: true })], ['a'])).toBe('not-enforced')
    expect(uniquenessOf([index(['a'], { notNull: true })], ['a', 'b'])).toBe('not-enforced')
  })

  test('nullable columns: NULLs distinct, unless NULLS NOT DISTINCT', () => {
    expect(uniquenessOf([index(['slug'])], ['slug'])).toBe('nulls-distinct')
    expect(uniquenessOf([index(['slug'], { nullsNotDistinct: true })], ['slug'])).toBe('enforced')
  })

  test('one enforcing index among several covering ones decides', () => {
    expect(uniquenessOf([index(['slug']), index(['slug'], { notNull: true })], ['slug'])).toBe('enforced')
  })

  test('partial and expression indexes cover nothing', () => {
    expect(uniquenessOf([index(['slug'], { partial: true, notNull: true })], ['slug'])).toBe('not-enforced')
    expect(uniquenessOf([index(['slug'], { expression: true, notNull: true })], ['slug'])).toBe(
      'not-enforced',
    )
  })

  test('INCLUDE columns are not part of the key', () => {
    const included = index(['slug'], { include: ['label'], notNull: true })
    expect(uniquenessOf([included], ['slug'])).toBe('enforced')
    expect(uniquenessOf([included], ['slug', 'label'])).toBe('not-enforced')
  })

  test('names compare exactly: case folding is the caller’s', () => {
    expect(uniquenessOf([index(['Slug'], { notNull: true })], ['slug'])).toBe('not-enforced')
  })

  test('coveringIndexes names the indexes that cover the key', () => {
    const indexes = [index(['a']), index(['a', 'b']), index(['a'], { name: 'other', partial: true })]
    expect(coveringIndexes(indexes, ['a']).map((found) => found.name)).toEqual(['a'])
  })
})
