import { constraintStrategy } from './constraint-strategy.js'

/**
 * The strategy `getOrCreate` and `getOrCreateMany` use when none is given: one instance for both, so that
 * they share its catalog answers (one unique-index check per store and key fields) and its single flight.
 */
export const defaultStrategy = constraintStrategy()
