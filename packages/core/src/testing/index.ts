/**
 * `@getorcreate/core/testing`: the conformance suite every store (and strategy) can run, with the test runner
 * passed in so nothing here depends on one at run time.
 *
 * @module @getorcreate/core/testing
 */
export { runStoreConformance } from './store-conformance.js'
export type {
  ConformanceExpect,
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  ConformanceTableOptions,
  ConformanceTestApi,
  EqualKeys,
  StoreConformanceOptions,
} from './types.js'
