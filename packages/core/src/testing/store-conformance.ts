import type { Store } from '../types.js'
import { registerCoreCases } from './core-cases.js'
import { registerFencedCases } from './fenced-cases.js'
import { suiteOf } from './harness.js'
import { registerKeyEqualityCases } from './key-equality-cases.js'
import { registerManyCases } from './many-cases.js'
import { registerMemberCases } from './member-cases.js'
import { registerRaceCases } from './race-cases.js'
import type { ConformanceTestApi, StoreConformanceOptions } from './types.js'
import { registerUpdateCases } from './update-cases.js'

/**
 * Declare the store conformance suite: every rule a {@link Store} must keep for `getOrCreate` to be correct
 * on it. Hits and misses, composite keys, the race invariants (one row per key, one `created: true`, one id
 * for every caller), refusal without a unique index (nothing written), the NULL rule, bad input refused with
 * the same codes before any I/O, lazy defaults (called only on create, at most once per call), a conflict on
 * another unique constraint rethrown, and `fresh` reads that see rows written behind the store's back; and,
 * for the keys listed in {@link StoreConformanceOptions.equalKeys}, one row per key as the database compares
 * it, however the key is spelled; and `getOrCreateMany` (input order, repeated keys, batches racing calls).
 *
 * Optional members (`insertIfAbsentUnderLock`, `uniqueIndexFix`, the table's `statements`,
 * `insertIfAbsentFenced` on a table made with `{ fenced: true }`, and `insertIfAbsentAtomically` for a lock
 * strategy) have cases of their own, registered only for the members
 * listed in {@link StoreConformanceOptions.members}: the tests are declared synchronously, before any table
 * exists, so the suite cannot look at the store then. One case, always registered, fails unless every table's
 * store has exactly the members listed, and says which to list; every registered case asserts.
 *
 * The test runner is passed in, so `@getorcreate/core` does not depend on one at run time.
 *
 * @example
 * ```ts
 * import { runStoreConformance } from '@getorcreate/core/testing'
 * import { describe, expect, test } from 'vitest'
 *
 * runStoreConformance({ describe, test, expect }, {
 *   name: 'my store',
 *   table: async (shape) => makeTableAndStore(shape), // see ConformanceTable
 *   members: ['uniqueIndexFix'], // the optional members it has, whose cases then run
 * })
 * ```
 */
export function runStoreConformance(api: ConformanceTestApi, options: StoreConformanceOptions): void {
  const suite = suiteOf(api, options)
  api.describe(`store conformance: ${options.name}`, () => {
    registerCoreCases(suite)
    registerRaceCases(suite)
    registerManyCases(suite)
    registerMemberCases(suite)
    registerFencedCases(suite)
    registerUpdateCases(suite)
    registerKeyEqualityCases(suite, options.equalKeys ?? [])
  })
}
