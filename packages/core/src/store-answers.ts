/**
 * A row, or none, as a store answered it (`find`, an insert that answers `undefined` when the key is taken, a
 * batch's entries), checked: `null`, what many ORMs answer for none, is refused rather than taken for a row,
 * which would make a call return `{ row: null }`, or report `created: true` for an insert that wrote nothing.
 * The built-in strategies check every such answer with it; a strategy written outside core can too.
 *
 * @param row - what the store answered.
 * @param store - the store, for its name in the message.
 * @param method - the store method that answered, for the message.
 * @returns `row`: a row, or `undefined`.
 * @throws TypeError where `row` is `null`, naming the store and the method.
 *
 * @example
 * ```ts
 * const found = rowOrNone(await store.find(key), store, 'find')
 * if (found !== undefined) return { row: found, created: false }
 * ```
 */
export function rowOrNone<Row>(
  row: Row | null | undefined,
  store: { readonly name: string },
  method: string,
): Row | undefined {
  if (row === null) {
    throw new TypeError(
      `Store ${store.name}: ${method} answered null. A Store answers undefined where it has no row ` +
        '(`return row ?? undefined`).',
    )
  }
  return row
}
