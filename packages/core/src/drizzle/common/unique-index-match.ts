import type { Uniqueness } from '../../types.js'

/**
 * A unique index as each dialect's catalog reads it, in one shape, so that one rule ({@link uniquenessOf})
 * decides for every dialect whether it enforces a key.
 */
export interface CatalogIndex {
  /** The index's name, as the dialect reports it (MySQL names it in duplicate-key errors). */
  readonly name: string
  /** Its key columns (the database's names), in index order; INCLUDE columns are not among them. */
  readonly columns: readonly string[]
  /** Columns stored in the index but not part of its key (Postgres `INCLUDE`): they never make it unique. */
  readonly include?: readonly string[]
  /** A WHERE clause or a prefix (`col(10)`): it holds only some rows or some of a value, so it covers none. */
  readonly partial: boolean
  /** Some part is an expression, not a column: it does not cover its columns exactly. */
  readonly expression: boolean
  /** NULLs count as equal (Postgres 15+ `NULLS NOT DISTINCT`): a key with a NULL in it is one row. */
  readonly nullsNotDistinct: boolean
  /** Every key column is NOT NULL in the live table: no NULL can slip past the index. */
  readonly notNull: boolean
}

/**
 * The indexes that make exactly `columns` unique: whole (not partial, no expression) and on exactly these key
 * columns, in any order. A wider index (a, b) does not make (a) unique, and a narrower one (a) does make
 * (a, b) unique but cannot arbitrate `ON CONFLICT (a, b)`, so neither counts. Names compare exactly: a
 * dialect whose catalog folds case passes folded names on both sides.
 */
export function coveringIndexes(
  indexes: readonly CatalogIndex[],
  columns: readonly string[],
): CatalogIndex[] {
  const wanted = [...columns].sort()
  return indexes.filter((index) => {
    if (index.partial || index.expression || index.columns.length !== wanted.length) return false
    const covered = [...index.columns].sort()
    return covered.every((name, i) => name === wanted[i])
  })
}

/**
 * Whether `indexes` enforce `columns` as a key: `'enforced'` when a covering index counts NULLs as equal or
 * covers only NOT NULL columns, `'nulls-distinct'` when every covering index lets two rows share a key with a
 * NULL in it, `'not-enforced'` when no index covers exactly these columns.
 */
export function uniquenessOf(indexes: readonly CatalogIndex[], columns: readonly string[]): Uniqueness {
  const covering = coveringIndexes(indexes, columns)
  if (covering.length === 0) return 'not-enforced'
  return covering.some((index) => index.nullsNotDistinct || index.notNull) ? 'enforced' : 'nulls-distinct'
}
