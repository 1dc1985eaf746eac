/**
 * fast-check arbitraries for the property tests of more than one package. Apart from the package's main entry
 * because it loads fast-check.
 */
import fc from 'fast-check'

/**
 * Every kind of scalar a key may hold, and so the ones whose encodings must never collide: strings, integers,
 * finite doubles, bigints, booleans, null and valid dates.
 */
export const keyValue: fc.Arbitrary<string | number | bigint | boolean | null | Date> = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.date({ noInvalidDate: true }),
)
