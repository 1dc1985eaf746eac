/**
 * What the Postgres and SQLite batches share: telling the rows a multi-row insert wrote from the rows it met,
 * by primary key, and which of several keys the database treats as equal created their row.
 */
import type { Column } from 'drizzle-orm'
import { is } from 'drizzle-orm'
import { PgTable, getTableConfig as pgTableConfig } from 'drizzle-orm/pg-core'
import { SQLiteTable, getTableConfig as sqliteTableConfig } from 'drizzle-orm/sqlite-core'
import { keyId, onlyField } from '../../key.js'
import { checkKeyTypes } from './columns.js'

/** A primary key value as text that tells values apart: a Date to the millisecond, bytes as hex. */
function primaryKeyText(value: unknown): string {
  return value instanceof Date
    ? `d${value.toISOString()}`
    : value instanceof Uint8Array
      ? `x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
      : typeof value === 'object' && value !== null
        ? `j${JSON.stringify(value)}`
        : `${typeof value}:${String(value)}`
}

/** A row's primary key (`fields` of it), as text: what an inserted row and the row read back are compared by. */
export function rowIdentity(fields: readonly string[], row: Record<string, unknown>): string {
  if (fields.length === 1) {
    // One column, the common case: its text alone (no array to build), which tells values apart as well.
    const value = row[fields[0] as string]
    return typeof value === 'number' || typeof value === 'string'
      ? `${typeof value}:${value}`
      : primaryKeyText(value)
  }
  return JSON.stringify(fields.map((field) => primaryKeyText(row[field])))
}

/**
 * The indexes of `keys` (validated keys of one shape) sorted by `keyId`: the one order in which every batch
 * writes its rows, so that two batches of overlapping keys take their rows' locks in the same order. Keys of
 * one text field are compared as they are (the order `keyId` gives them, without making it).
 */
export function keyOrder(keys: readonly Record<string, unknown>[]): number[] {
  const indexes = keys.map((_, i) => i)
  const name = keys.length > 0 ? onlyField(keys[0] as Record<string, unknown>) : undefined
  if (name !== undefined && keys.every((key) => typeof key[name] === 'string')) {
    const texts = keys.map((key) => key[name] as string)
    return indexes.sort((a, b) => {
      const x = texts[a] as string
      const y = texts[b] as string
      return x < y ? -1 : x > y ? 1 : 0
    })
  }
  const ids = keys.map((key) => keyId(key))
  return indexes.sort((a, b) => {
    const x = ids[a] as string
    const y = ids[b] as string
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/** `entries` in {@link keyOrder} of their keys: the order in which an insert batch writes its rows. */
export function entriesInKeyOrder<Entry extends { readonly key: Record<string, unknown> }>(
  entries: readonly Entry[],
): Entry[] {
  return keyOrder(entries.map((entry) => entry.key)).map((i) => entries[i] as Entry)
}

/**
 * The answer of `insertManyIfAbsentAtomically` for `entries`: each entry's row as read back (`found`, in the
 * order of `entries`), `inserted` for the one entry that wrote it. Keys the database treats as equal meet one
 * row; of them, the one whose values were written (the first in `ordered`, the insert's order) inserted it.
 *
 * @param inserted - the identities ({@link rowIdentity}) of the rows the insert returned.
 */
export function claimCreators<Entry>(
  entries: readonly Entry[],
  ordered: readonly Entry[],
  found: readonly (Record<string, unknown> | undefined)[],
  inserted: ReadonlySet<string>,
  primaryKey: readonly string[],
): { row: unknown; inserted: boolean }[] {
  const position = new Map(ordered.map((entry, at) => [entry, at]))
  const claimed = new Map<string, number>()
  found.forEach((row, at) => {
    if (row === undefined) return
    const id = rowIdentity(primaryKey, row)
    if (!inserted.has(id)) return
    const order = position.get(entries[at] as Entry) as number
    const best = claimed.get(id)
    if (best === undefined || order < (position.get(entries[best] as Entry) as number)) claimed.set(id, at)
  })
  const creators = new Set(claimed.values())
  return found.map((row, at) => ({ row, inserted: creators.has(at) }))
}

/** The fields of the table's primary key (a column's own, or the table's composite one); `[]`: none. */
export function primaryKeyFields(table: unknown, columns: Record<string, Column>): string[] {
  const byColumn = new Map(Object.entries(columns).map(([field, column]) => [column, field]))
  const own = Object.keys(columns).filter((field) => (columns[field] as Column).primary)
  if (own.length > 0) return own
  const config = is(table, PgTable)
    ? pgTableConfig(table)
    : is(table, SQLiteTable)
      ? sqliteTableConfig(table)
      : undefined
  const [composite] = config?.primaryKeys ?? []
  return (composite?.columns ?? []).flatMap((column) => {
    const field = byColumn.get(column as Column)
    return field === undefined ? [] : [field]
  })
}

/** What a dialect's batch answers, before its store types it. */
interface Batch {
  findMany(keys: readonly Record<string, unknown>[]): Promise<unknown[]>
  insertMany(
    entries: readonly { readonly key: Record<string, unknown>; readonly values: Record<string, unknown> }[],
  ): Promise<{ row: unknown; inserted: boolean }[] | undefined>
  /** `findOrInsertManyAtomically`, where the dialect reads and inserts in one statement. */
  findOrInsertMany?(
    entries: readonly { readonly key: Record<string, unknown>; readonly values: Record<string, unknown> }[],
  ): Promise<{ row: unknown; inserted: boolean }[] | undefined>
}

/**
 * A store's `findMany` and `insertManyIfAbsentAtomically` (and `findOrInsertManyAtomically` where the dialect
 * has it) over its dialect's `batch`: every key's types checked against its columns first (as `find` checks
 * one), then the batch, its answers typed as the store's.
 */
export function batchMembers<Row, Insert>(label: string, columns: Record<string, Column>, batch: Batch) {
  const check = (key: unknown) => checkKeyTypes(label, columns, key as Record<string, unknown>)
  const { findOrInsertMany } = batch
  return {
    ...(findOrInsertMany && {
      findOrInsertManyAtomically: (
        entries: readonly { readonly key: Partial<Row>; readonly values: Insert }[],
      ) => {
        for (const entry of entries) check(entry.key)
        return findOrInsertMany(
          entries as readonly { key: Record<string, unknown>; values: Record<string, unknown> }[],
        ) as Promise<{ row: Row | undefined; inserted: boolean }[] | undefined>
      },
    }),
    findMany: (keys: readonly Partial<Row>[]) => {
      for (const key of keys) check(key)
      return batch.findMany(keys as Record<string, unknown>[]) as Promise<(Row | undefined)[]>
    },
    insertManyIfAbsentAtomically: (
      entries: readonly { readonly key: Partial<Row>; readonly values: Insert }[],
    ) => {
      for (const entry of entries) check(entry.key)
      return batch.insertMany(
        entries as readonly { key: Record<string, unknown>; values: Record<string, unknown> }[],
      ) as Promise<{ row: Row | undefined; inserted: boolean }[] | undefined>
    },
  }
}
