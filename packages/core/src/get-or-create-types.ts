// The compile-time types of getOrCreate's arguments (get-or-create.ts): what makes a key or `defaults` that
// name a column the table lacks, or leave out one it requires, fail to compile with a message that names it.
// Types only: no run-time code.
import type { Defaults, Strategy, TableName } from './types.js'

/** The key of the compile-time error types' member: no value has it, so nothing satisfies them. */
declare const compileError: unique symbol

/**
 * Compile-time error: `Column` is not a column of the table `Table`. A key or defaults naming it get this
 * type for that field, so the compiler says so: `Type 'number' is not assignable to type
 * 'UnknownColumn<"nope", "tags">'`. No value has this type.
 */
export interface UnknownColumn<Column extends PropertyKey, Table extends string> {
  /** Never present: it carries the message. */
  readonly [compileError]: [unknownColumn: Column, table: Table]
}

/**
 * Compile-time error: `Field` is not a field of the store's rows (a store whose table's name the compiler
 * does not know: `memoryStore`, a custom store). See {@link UnknownColumn}.
 */
export interface UnknownField<Field extends PropertyKey> {
  /** Never present: it carries the message. */
  readonly [compileError]: [unknownField: Field]
}

/** {@link UnknownColumn} where the table's name is known, else {@link UnknownField}. */
export type UnknownName<Field extends PropertyKey, Table extends string> = [Table] extends [never]
  ? UnknownField<Field>
  : UnknownColumn<Field, Table>

/**
 * Blocks inference from `T`, like TypeScript 5.4's `NoInfer<T>` but on TypeScript 5.0 and later: once `T` is
 * known, it is `T` itself. `getOrCreate` infers the types of its key and defaults from the arguments, then
 * checks the arguments against this.
 */
export type NoInferFrom<T> = [T][T extends unknown ? 0 : never]

/**
 * `K` with every field that `Allowed` lacks turned into an error type that names it (and `Table`, when
 * given): a key naming an unknown column does not compile, and the compiler's message says which. A union
 * `K` is checked member by member.
 */
export type ExactKey<K, Allowed, Table extends string = never> = K extends unknown
  ? { [P in keyof K]: P extends keyof Allowed ? K[P] : UnknownName<P, Table> }
  : never

/**
 * The name of the table of a store of type `S`, as its {@link TableName} says (`drizzleStore` gives it);
 * `never` when the compiler does not know it (`memoryStore`, a custom store, or `string`).
 */
export type TableOf<S> =
  S extends TableName<infer Name>
    ? [Name] extends [string]
      ? string extends Name
        ? never
        : Name
      : never
    : never

/**
 * What `defaults` must hold for a key `K`: every value a new row needs that the key does not give. Key fields
 * may be repeated (with the same value) but need not be. For a union of keys, every value a new row needs
 * that some member does not give.
 */
export type DefaultsFor<Values, K> = Omit<Values, keyof K> &
  Partial<Pick<Values, Extract<keyof K, keyof Values>>>

/** The fields `V` requires (not optional). */
export type RequiredFields<V> = {
  [P in keyof V]-?: Record<never, never> extends Pick<V, P> ? never : P
}[keyof V]

/**
 * Compile-time error: `getOrCreate` was called without `defaults` (or with `undefined`), but the insert model
 * requires `Columns`, which the key does not give. The compiler names them: `Property '"defaults must give
 * label (NOT NULL in tags, no default)"' is missing`. Give them in `defaults` (an object or a function).
 */
export type DefaultsRequired<Columns extends PropertyKey, Table extends string = never> = {
  readonly [C in Columns as `defaults must give ${C & string}${[Table] extends [never]
    ? ''
    : ` (NOT NULL in ${Table}, no default)`}`]: C
}

/**
 * `unknown` (no constraint) unless `defaults` may be absent (the rest of the arguments `Rest` is empty, or its
 * first may be `undefined`) while the insert model requires a column the key does not give: then
 * {@link DefaultsRequired}, which names those columns.
 */
export type NeedsDefaults<Values, K, Rest extends readonly unknown[], Table extends string = never> = (
  Rest extends readonly []
    ? true
    : undefined extends Rest[0]
      ? true
      : false
) extends true
  ? [RequiredFields<DefaultsFor<Values, K>>] extends [never]
    ? unknown
    : DefaultsRequired<RequiredFields<DefaultsFor<Values, K>>, Table>
  : unknown

/** The values `V` given as defaults, checked: all that `DefaultsFor` requires, and no field `Values` lacks. */
export type CheckedValues<V, Values, K, Table extends string> = DefaultsFor<Values, K> &
  ExactKey<V, Values, Table>

/**
 * What `defaults` of type `D` must be, for a key `K`: `undefined`; an object that gives every column the
 * insert model requires and the key does not, and names no column the table lacks; or a function (sync or
 * async) that returns one.
 */
export type CheckedDefaults<D, Values, K, Table extends string = never> = D extends undefined
  ? undefined
  : D extends (...args: never[]) => infer R
    ? [R] extends [PromiseLike<unknown>]
      ? () => Promise<CheckedValues<Awaited<R>, Values, K, Table>>
      : [R] extends [Awaited<R>]
        ? () => CheckedValues<R, Values, K, Table>
        : () =>
            | CheckedValues<Awaited<R>, Values, K, Table>
            | Promise<CheckedValues<Awaited<R>, Values, K, Table>>
    : CheckedValues<D, Values, K, Table>

/**
 * The arguments after the key, `[defaults?, strategy?]`, checked against what they are (`Rest`): see
 * {@link CheckedDefaults}. No longer part of `getOrCreate`'s signature (its parameters are named: see
 * {@link DefaultsArgument}); kept for code that names it.
 */
export type DefaultsAndStrategy<Values, K, Rest extends readonly unknown[], Table extends string = never> = [
  defaults?: CheckedDefaults<Rest[0], Values, K, Table>,
  strategy?: Strategy,
]

/**
 * The type of `defaults` when type arguments are given explicitly (`getOrCreate`'s `D` is then not inferred):
 * the defaults a key `K` takes, as in 0.1, `Defaults<DefaultsFor<Values, K>>`; and `undefined` only when the
 * key leaves no required column out.
 */
export type ExplicitDefaults<Values, K> =
  | Defaults<DefaultsFor<Values, K>>
  | ([RequiredFields<DefaultsFor<Values, K>>] extends [never] ? undefined : never)

/**
 * The type of `getOrCreate`'s `key` argument: the key `K` as given, naming no field the store's `Key` lacks
 * ({@link ExactKey}; each member of a union against its own fields), and, when the defaults (the
 * arguments after the key, `Rest`) may be absent, giving every column the insert model requires
 * ({@link NeedsDefaults}).
 */
export type KeyArgument<
  K,
  Key,
  Values,
  Rest extends readonly unknown[],
  Table extends string = never,
> = (K extends unknown ? K & NoInferFrom<ExactKey<K, Key, Table>> : never) &
  NoInferFrom<NeedsDefaults<Values, K, Rest, Table>>

/**
 * The type of `getOrCreate`'s `defaults` argument: the defaults `D` as given, checked by
 * {@link CheckedDefaults}.
 */
export type DefaultsArgument<D, Values, K, Table extends string = never> = D &
  NoInferFrom<CheckedDefaults<D, Values, K, Table>>
