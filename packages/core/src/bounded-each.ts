/**
 * How many keys of one `getOrCreateMany` call are settled at once where they are settled one by one (each one
 * strategy call in flight, on a connection of its own).
 */
export const GET_OR_CREATE_MANY_CONCURRENCY = 8

/**
 * Run `task(i)` for every `i` of `items`, at most `limit` at once, in order of start. After the first failure
 * no further task is started; the ones in flight are awaited, then the first error is thrown.
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
