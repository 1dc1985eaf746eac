/**
 * `@getorcreate/core/testing`: the conformance suite every store (and strategy) can run, with the test runner
 * passed in so nothing here depends on one at run time.
 *
 * @module @getorcreate/core/testing
 */
export {
  type ConformanceExpect,
  type ConformanceShape,
  type ConformanceStore,
  type ConformanceTable,
  type ConformanceTestApi,
  runStoreConformance,
  type StoreConformanceOptions,
} from './store-conformance.js'
