import { copyKeyValue } from './copy-value.js'
import { ConflictingDefaultsError, InvalidKeyError } from './errors.js'

/** Version of {@link encodeKey}'s format; bump it when the encoding changes, so old and new never mix. */
const ENCODING_VERSION = 'v1'

/** True for `{}` literals and `Object.create(null)`: not class instances, arrays, Maps or Dates. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') {
    const ctor = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor
    return ctor?.name ? `an instance of ${ctor.name}` : 'an object'
  }
  return `a ${typeof value}`
}

/**
 * One key value as a type-tagged tuple: `1` and `'1'`, a Date and its ISO string, `null` and `'null'`, `1`
 * and `1n` never encode alike. Throws for what no unique index compares (undefined, NaN, objects…).
 */
function encodeValue(field: string, value: unknown): readonly [string, string?] {
  switch (typeof value) {
    case 'string':
      return ['s', value]
    case 'number':
      if (!Number.isFinite(value))
        throw new InvalidKeyError(`Key field "${field}" is ${value}: not a value a unique index can match.`)
      return ['n', String(value)] // String(-0) === '0', as the database sees it
    case 'bigint':
      return ['i', value.toString()]
    case 'boolean':
      return ['b', value ? '1' : '0']
    case 'undefined':
      throw new InvalidKeyError(
        `Key field "${field}" is undefined. A key must give every field a value; to match NULL pass null, or leave the field out of the key.`,
      )
    case 'object': {
      if (value === null) return ['z']
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime()))
          throw new InvalidKeyError(`Key field "${field}" is an invalid Date.`)
        return ['d', value.toISOString()]
      }
      if (value instanceof Uint8Array)
        return ['x', Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')]
      break
    }
  }
  throw new InvalidKeyError(
    `Key field "${field}" is ${describe(value)}. Key values must be strings, numbers, bigints, booleans, Dates, byte arrays or null.`,
  )
}

/** Refuse a key that is not a plain object of named fields. */
function checkKeyObject(key: unknown): asserts key is Record<string, unknown> {
  if (!isPlainObject(key)) {
    throw new InvalidKeyError(`The key must be a plain object of field → value, got ${describe(key)}.`)
  }
  if (Object.getOwnPropertySymbols(key).length > 0)
    throw new InvalidKeyError('The key has symbol properties; use field names.')
}

/**
 * Check that `key` can identify one row, before any I/O, and return its fields in a stable (sorted) order.
 * With `fields`, a key naming any other field is refused too.
 *
 * @throws InvalidKeyError when the key is not a plain object, is empty, or holds an unsupported value.
 */
export function validateKey(key: unknown, fields?: readonly string[]): string[] {
  checkKeyObject(key)
  const names = Object.keys(key)
  checkNames(key, names, fields)
  return names
}

/**
 * {@link validateKey}'s checks of a plain object's `names` (its own keys): sorts `names` in place (errors name
 * fields in that order).
 */
function checkNames(key: Record<string, unknown>, names: string[], fields?: readonly string[]): void {
  if (names.length === 0)
    throw new InvalidKeyError('The key is empty: it would match any row. Name at least one field.')
  if (names.length > 1) names.sort()
  // Index loops, and the names the store lacks gathered only once one is found: nothing allocated for a
  // valid key (this runs for every call, and for every item of a batch).
  if (fields) {
    for (let n = 0; n < names.length; n++) {
      if (fields.includes(names[n] as string)) continue
      const unknown = names.filter((name) => !fields.includes(name))
      throw new InvalidKeyError(
        `The key names ${quoteList(unknown)}, which the table does not have. Its fields: ${fields.join(', ')}.`,
      )
    }
  }
  for (let n = 0; n < names.length; n++) {
    const name = names[n] as string
    const value = key[name]
    // A string is always valid: no tuple to build for the common case.
    if (typeof value !== 'string') encodeValue(name, value)
  }
}

/**
 * The caller's key, copied, then validated ({@link validateKey}): its own enumerable fields, each read once (a
 * getter is called once), as data properties of a fresh plain object, Dates and byte arrays copied. Everything after the check uses the
 * copy, so neither a getter that answers differently the next time nor a `defaults` function (or any other
 * code) that changes the caller's object can make the call look up, lock or create another key than the one
 * checked.
 *
 * @throws InvalidKeyError as {@link validateKey} does.
 */
export function validatedKeyCopy(key: unknown, fields?: readonly string[]): Record<string, unknown> {
  checkKeyObject(key)
  // A Date or byte array is copied too: changing the caller's (`setTime`, a byte) cannot change the copy.
  const names = Object.keys(key)
  const copy: Record<string, unknown> = {}
  for (const name of names) {
    setField(copy, name, copyKeyValue(key[name]))
  }
  // The copy is a plain object of string keys by construction: only its fields and values to check.
  checkNames(copy, names, fields)
  return copy
}

/**
 * Check a `defaults` object against the key, before it is inserted: a plain object, only known fields, and
 * no key field with another value than the key's. Returns the values to insert: `{ ...defaults, ...key }`.
 *
 * @throws ConflictingDefaultsError
 */
export function mergeDefaults(
  key: Record<string, unknown>,
  defaults: unknown,
  fields?: readonly string[],
): Record<string, unknown> {
  const given = defaults !== undefined && defaults !== null
  if (given) checkDefaults(key, defaults, fields)
  // Object.assign copies as the spread does (own enumerable strings, then symbols; each getter read once)
  // and is the fastest way in V8, but sets `__proto__` as the prototype: the loop keeps it a field.
  if (!Object.hasOwn(key, '__proto__') && !(given && Object.hasOwn(defaults as object, '__proto__'))) {
    return given ? Object.assign({}, defaults, key) : Object.assign({}, key)
  }
  const merged: Record<string, unknown> = {}
  if (given) copyOwnInto(merged, defaults as Record<string, unknown>)
  copyOwnInto(merged, key)
  return merged
}

/**
 * `{ ...target, ...source }` in place: `source`'s own enumerable properties (strings, then symbols), each read
 * once, as data properties (`__proto__` included). A loop, since V8 spreads a second object into a literal
 * about ten times slower, and every call with `defaults` merges them.
 */
function copyOwnInto(
  target: Record<string | symbol, unknown>,
  source: Record<string | symbol, unknown>,
): void {
  for (const name of Object.keys(source)) setField(target, name, source[name])
  for (const symbol of Object.getOwnPropertySymbols(source)) {
    if (Object.prototype.propertyIsEnumerable.call(source, symbol)) target[symbol] = source[symbol]
  }
}

/**
 * `target[name] = value` on a fresh plain object, as a data property even for `__proto__` (what an object
 * literal makes), where the assignment would set `target`'s prototype.
 */
function setField(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true })
  } else target[name] = value
}

/**
 * {@link mergeDefaults}'s checks alone, without building the merged object: what a call that may never create
 * needs before any I/O.
 *
 * @throws ConflictingDefaultsError
 */
function checkDefaults(key: Record<string, unknown>, defaults: unknown, fields?: readonly string[]): void {
  if (defaults === undefined || defaults === null) return
  if (!isPlainObject(defaults)) {
    throw new ConflictingDefaultsError(
      `defaults must be a plain object (or a function returning one), got ${describe(defaults)}.`,
    )
  }
  if (fields) {
    const unknown: string[] = []
    // `for…in` and `hasOwn`: the own enumerable names, as Object.keys gives them, without their array.
    for (const name in defaults) {
      if (Object.hasOwn(defaults, name) && !fields.includes(name)) unknown.push(name)
    }
    if (unknown.length > 0) {
      throw new ConflictingDefaultsError(
        `defaults name ${quoteList(unknown)}, which the table does not have; they would be dropped silently. Its fields: ${fields.join(', ')}.`,
      )
    }
  }
  for (const name in key) {
    // Own fields only: `in` would also see what every object inherits (a key column named `constructor`
    // or `toString` would meet Object.prototype's function, and every defaults object would conflict).
    if (!Object.hasOwn(key, name) || !Object.hasOwn(defaults, name) || defaults[name] === undefined) continue
    if (!sameKeyValue(name, key[name], defaults[name])) {
      throw new ConflictingDefaultsError(
        `defaults give key field "${name}" a different value than the key does. A created row always has the key's values: leave "${name}" out of defaults.`,
      )
    }
  }
}

function sameKeyValue(field: string, a: unknown, b: unknown): boolean {
  let right: readonly [string, string?]
  try {
    right = encodeValue(field, b)
  } catch {
    return false
  }
  const left = encodeValue(field, a)
  return left[0] === right[0] && left[1] === right[1]
}

/**
 * The canonical encoding of a key of a store: versioned, type-tagged, fields sorted. Two keys encode alike
 * exactly when they name the same fields with the same typed values, whatever the order of their fields.
 * Lock strategies hash it into lock names.
 *
 * @example
 * ```ts
 * encodeKey('pg:public.items', { b: 1, a: 'x' }) === encodeKey('pg:public.items', { a: 'x', b: 1 }) // true
 * ```
 * @throws InvalidKeyError for a key {@link validateKey} refuses.
 */
export function encodeKey(storeName: string, key: Record<string, unknown>): string {
  const names = validateKey(key)
  return JSON.stringify([
    ENCODING_VERSION,
    storeName,
    names.map((name) => [name, ...encodeValue(name, key[name])]),
  ])
}

function quoteList(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ')
}

/** Field names as JSON strings, for {@link keyId}: a key's few names, quoted once each. */
const quotedNames = new Map<string, string>()

/** `JSON.stringify(name)`, remembered for up to a thousand names. */
function quotedName(name: string): string {
  let quoted = quotedNames.get(name)
  if (quoted === undefined) {
    quoted = JSON.stringify(name)
    if (quotedNames.size < 1000) quotedNames.set(name, quoted)
  }
  return quoted
}

/**
 * The name of the one own enumerable field of `key` (a plain object); `undefined` when it has none or several.
 * What `Object.keys(key)` would tell for the common one-field key, without an array per key.
 */
export function onlyField(key: Record<string, unknown>): string | undefined {
  let only: string | undefined
  for (const name in key) {
    if (!Object.hasOwn(key, name)) continue
    if (only !== undefined) return undefined
    only = name
  }
  return only
}

/**
 * An id of a key already validated (fields in any order): equal for two keys exactly when
 * {@link encodeKey} encodes them alike. For the in-process single flight; not part of the public API.
 */
export function keyId(key: Record<string, unknown>): string {
  const name = onlyField(key)
  if (name !== undefined) {
    // One field, the common case: the quoted name, then the tag and the text (no JSON array to build).
    const value = key[name]
    if (typeof value === 'string') return `${quotedName(name)}s${value}`
    const [tag, text = ''] = encodeValue(name, value)
    return `${quotedName(name)}${tag}${text}`
  }
  const names = Object.keys(key).sort()
  return JSON.stringify(names.map((name) => [name, ...encodeValue(name, key[name])]))
}
