import { onlyField } from './key.js'

/**
 * How many keys of one `getOrCreateMany` call are settled at once where they are settled one by one (each one
 * strategy call in flight, on a connection of its own).
 */
export const GET_OR_CREATE_MANY_CONCURRENCY = 8

/**
 * Run `task(item)` for every item of `items`, at most `limit` at once, in order of start. After the first
 * failure no further task is started; the ones in flight are awaited, then the first error is thrown. How
 * `getOrCreateMany` settles keys one by one; exported for strategies written outside core.
 *
 * @example
 * ```ts
 * await boundedEach(keys, GET_OR_CREATE_MANY_CONCURRENCY, async (key) => {
 *   results.set(key, await strategy.getOrCreate(store, key, values))
 * })
 * ```
 */
export async function boundedEach<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T
      try {
        await task(item)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (failure) throw failure.error
}

/**
 * The indexes of `keys` grouped by shape (the same fields, in any order), each group in input order: what
 * `Store.findMany` and `Store.insertManyIfAbsentAtomically` take at once, since they take keys of one shape.
 * For strategies written outside core, as `getOrCreateMany`'s own.
 *
 * @example
 * ```ts
 * byKeyShape([{ a: 1 }, { b: 2 }, { a: 3 }]) // [[0, 2], [1]]
 * ```
 */
export function byKeyShape(keys: readonly unknown[]): number[][] {
  const shapes = new Map<string, number[]>()
  keys.forEach((key, i) => {
    // One field, the common case, without an array of names.
    const shape =
      onlyField(key as Record<string, unknown>) ??
      Object.keys(key as object)
        .sort()
        .join('\u0000')
    const same = shapes.get(shape)
    if (same) same.push(i)
    else shapes.set(shape, [i])
  })
  return [...shapes.values()]
}
