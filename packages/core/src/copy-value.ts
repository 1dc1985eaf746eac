/**
 * Deep copies that share nothing mutable with their source: what `memoryStore` stores and returns, so that
 * no caller can change a stored row (or another caller's row) through a value it holds.
 */

/** Called with the path of a value that cannot be copied exactly (`'meta.tags[2]'`) and what it is. */
type Refuse = (path: string, what: string) => never

/** The prototype every standard typed array's prototype inherits from (`%TypedArray%.prototype`). */
const TYPED_ARRAY_PROTOTYPE: unknown = Object.getPrototypeOf(Uint8Array.prototype)

/**
 * A copy of a key value (already validated: a scalar, a Date or a byte array), so that code changing the
 * caller's Date (`setTime`) or bytes cannot change the key a call looks up, locks and creates.
 */
export function copyKeyValue(value: unknown): unknown {
  if (value instanceof Date) return new Date(value.getTime())
  if (value instanceof Uint8Array) return copyBytes(value)
  return value
}

/** A Buffer stays a Buffer (whose `slice` would share memory); any other byte array is sliced (a copy). */
function copyBytes(value: Uint8Array): Uint8Array {
  return typeof Buffer !== 'undefined' && Buffer.isBuffer(value) ? Buffer.from(value) : value.slice()
}

/**
 * A deep copy of a row (its own enumerable string-keyed fields, each read once), as a fresh plain object.
 * Copied: primitives (bigint included), plain objects (a null prototype kept), arrays, Dates, Maps, Sets,
 * ArrayBuffers, typed arrays (Buffers stay Buffers) and DataViews, nested to any depth, shared and circular
 * references kept as such. Anything else (functions, symbols, class instances, RegExps, Promises,
 * WeakMaps…) is given to `refuse`: a copy would not be the same value, and a reference would be shared.
 * Fields of nested objects keyed by symbols, and non-enumerable ones, are not copied (as JSON would not).
 */
export function copyRow(row: Record<string, unknown>, refuse: Refuse): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  let seen: Map<object, unknown> | undefined
  for (const field of Object.keys(row)) {
    const value = row[field]
    let copied: unknown = value
    if (typeof value === 'object' && value !== null) {
      seen ??= new Map()
      copied = copyObject(value, field, refuse, seen)
    } else if (typeof value === 'function' || typeof value === 'symbol') {
      refuse(field, `a ${typeof value}`)
    }
    define(out, field, copied)
  }
  return out
}

/** `target[field] = value` as a data property, even for `__proto__` (which an assignment would not define). */
function define(target: Record<string, unknown>, field: string, value: unknown): void {
  if (field === '__proto__') {
    Object.defineProperty(target, field, { value, writable: true, enumerable: true, configurable: true })
  } else target[field] = value
}

function copyAny(value: unknown, path: string, refuse: Refuse, seen: Map<object, unknown>): unknown {
  if (typeof value === 'object' && value !== null) return copyObject(value, path, refuse, seen)
  if (typeof value === 'function' || typeof value === 'symbol') refuse(path, `a ${typeof value}`)
  return value
}

function copyObject(value: object, path: string, refuse: Refuse, seen: Map<object, unknown>): unknown {
  if (seen.has(value)) return seen.get(value)
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = proto === null ? Object.create(null) : {}
    seen.set(value, out)
    const source = value as Record<string, unknown>
    for (const field of Object.keys(source))
      define(out, field, copyAny(source[field], `${path}.${field}`, refuse, seen))
    return out
  }
  if (proto === Array.prototype) {
    const source = value as unknown[]
    const out: unknown[] = new Array(source.length)
    seen.set(value, out)
    for (let i = 0; i < source.length; i++) {
      if (Object.hasOwn(source, i)) out[i] = copyAny(source[i], `${path}[${i}]`, refuse, seen)
    }
    return out
  }
  if (proto === Date.prototype) return remember(seen, value, new Date((value as Date).getTime()))
  if (proto === Map.prototype) {
    const out = new Map<unknown, unknown>()
    seen.set(value, out)
    for (const [k, v] of value as Map<unknown, unknown>)
      out.set(copyAny(k, `${path}.<key>`, refuse, seen), copyAny(v, `${path}.get()`, refuse, seen))
    return out
  }
  if (proto === Set.prototype) {
    const out = new Set<unknown>()
    seen.set(value, out)
    for (const v of value as Set<unknown>) out.add(copyAny(v, `${path}.<item>`, refuse, seen))
    return out
  }
  if (proto === ArrayBuffer.prototype) return remember(seen, value, (value as ArrayBuffer).slice(0))
  if (proto === DataView.prototype) {
    const view = value as DataView
    const bytes = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)
    return remember(seen, value, new DataView(bytes as ArrayBuffer))
  }
  if (
    ArrayBuffer.isView(value) &&
    (Object.getPrototypeOf(proto) === TYPED_ARRAY_PROTOTYPE ||
      (typeof Buffer !== 'undefined' && Buffer.isBuffer(value)))
  ) {
    return remember(seen, value, copyBytesOf(value as unknown as TypedArray))
  }
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
  return refuse(path, typeof name === 'string' && name ? `an instance of ${name}` : 'an object')
}

/** Any standard typed array: `slice` copies into a new buffer of the same type. */
interface TypedArray extends ArrayBufferView {
  slice(): TypedArray
}

function copyBytesOf(value: TypedArray): unknown {
  return value instanceof Uint8Array ? copyBytes(value) : value.slice()
}

function remember<T>(seen: Map<object, unknown>, source: object, copy: T): T {
  seen.set(source, copy)
  return copy
}
