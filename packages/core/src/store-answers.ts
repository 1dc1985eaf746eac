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

/**
 * A batch method's answers as the store gave them: an array (one answer per entry), or `undefined` where the
 * store declined and nothing was written. Anything else is refused, on every path alike, rather than taken
 * for a decline on one and failing on another. Internal: the constraint strategy's.
 *
 * @throws TypeError where `answers` is neither, naming the store and the method.
 */
export function answersOrNone<Answer>(
  answers: readonly Answer[] | null | undefined,
  store: { readonly name: string },
  method: string,
): readonly Answer[] | undefined {
  if (answers === undefined || Array.isArray(answers)) return answers
  throw new TypeError(
    `Store ${store.name}: ${method} answered ${answers === null ? 'null' : typeof answers}, neither an array ` +
      'of one answer per entry nor undefined (declined, nothing written).',
  )
}
