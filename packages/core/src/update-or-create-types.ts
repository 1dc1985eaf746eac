// The compile-time types of updateOrCreate's arguments (update-or-create.ts), as get-or-create-types.ts is for
// getOrCreate: a key, `values` or `createDefaults` naming a column the table lacks, or a create that would
// leave out a column the insert model requires, fail to compile with a message that names it. Types only.
import type { ExactKey, NoInferFrom, RequiredFields } from './get-or-create-types.js'
import type { Defaults, Strategy } from './types.js'

/**
 * What {@link updateOrCreate} writes over a row: an object of fields, or a function of the row as it was read
 * (`undefined` when the call creates it), sync or async, called at most once per attempt.
 */
export type UpdateValues<Row, Values> =
  | Partial<Values>
  | ((current: Row | undefined) => Partial<Values> | Promise<Partial<Values>>)

/** The fields an argument of type `V` gives: an object's own, or what a function (sync or async) returns. */
export type GivenFields<V> = V extends (...args: never[]) => infer R ? Awaited<R> : V

/** Fields `F` checked: each of the insert model's type ({@link Partial} of `Values`), none it lacks. */
type CheckedFields<F, Values, Table extends string> = Partial<Values> & ExactKey<F, Values, Table>

/** What a function returning `R` (sync or async) must return instead: its fields checked. */
type CheckedResult<R, Values, Table extends string> = [R] extends [PromiseLike<unknown>]
  ? Promise<CheckedFields<Awaited<R>, Values, Table>>
  : [R] extends [Awaited<R>]
    ? CheckedFields<R, Values, Table>
    : CheckedFields<Awaited<R>, Values, Table> | Promise<CheckedFields<Awaited<R>, Values, Table>>

/**
 * What `values` of type `V` must be: an object naming no column the table lacks (the compiler names it, as
 * for `getOrCreate`'s defaults: `UnknownColumn<"nope", "tags">`), or a function of the row as read whose
 * result (sync or async) names none.
 */
export type CheckedUpdateValues<V, Row, Values, Table extends string = never> = V extends (
  ...args: never[]
) => infer R
  ? (current: Row | undefined) => CheckedResult<R, Values, Table>
  : CheckedFields<V, Values, Table>

/**
 * What `createDefaults` of type `C` must be: `undefined`, an object naming no column the table lacks, or a
 * function (sync or async) returning one.
 */
export type CheckedCreateDefaults<C, Values, Table extends string = never> = C extends undefined
  ? undefined
  : C extends (...args: never[]) => infer R
    ? () => CheckedResult<R, Values, Table>
    : CheckedFields<C, Values, Table>

/**
 * The columns the insert model requires (NOT NULL, no default) that a create by `updateOrCreate` would leave
 * out: given neither by the key `K`, nor for sure by `values` (`V`: a field it may leave out does not count),
 * nor for sure by `createDefaults` (`C`).
 */
export type MissingOnCreate<Values, K, V, C> = RequiredFields<
  Omit<Values, keyof K | RequiredFields<GivenFields<V>> | RequiredFields<GivenFields<C>>>
>

/**
 * Compile-time error: a create by `updateOrCreate` would leave out `Columns`, which the insert model requires
 * and neither the key nor `values` gives. The compiler names them: `Property '"createDefaults must give
 * label (NOT NULL in tags, no default)"' is missing`. Give them in `options.createDefaults` (or in `values`).
 */
export type CreateDefaultsRequired<Columns extends PropertyKey, Table extends string = never> = {
  readonly [C in Columns as `createDefaults must give ${C & string}${[Table] extends [never]
    ? ''
    : ` (NOT NULL in ${Table}, no default)`}`]: C
}

/**
 * `unknown` (no constraint) unless a create would leave out a column the insert model requires
 * ({@link MissingOnCreate}): then {@link CreateDefaultsRequired}, which names those columns. Also `unknown`
 * when `V` is all of {@link UpdateValues} (type arguments given explicitly, as before these checks).
 */
export type NeedsCreateDefaults<Row, Values, K, V, C, Table extends string = never> =
  UpdateValues<Row, Values> extends V
    ? unknown
    : [MissingOnCreate<Values, K, V, C>] extends [never]
      ? unknown
      : CreateDefaultsRequired<MissingOnCreate<Values, K, V, C>, Table>

/** Options of {@link updateOrCreate}. */
export interface UpdateOrCreateOptions<Values> {
  /**
   * Values a created row gets besides `values` and the key (`{ ...createDefaults, ...values, ...key }`); an
   * update does not write them. An object, or a function called only when the call attempts a create (once
   * per attempt: a create that lost its race, or that is settled again after its row vanished, calls it again).
   */
  readonly createDefaults?: Defaults<Partial<Values>>
  /** How the create is settled: default `constraintStrategy()`. */
  readonly strategy?: Strategy
}

/**
 * The type of `updateOrCreate`'s `options` argument: {@link UpdateOrCreateOptions}, its `createDefaults`
 * (of type `C`, inferred) checked by {@link CheckedCreateDefaults}.
 */
export interface UpdateOrCreateArgumentOptions<Values, C, Table extends string = never> {
  /** See {@link UpdateOrCreateOptions.createDefaults}. */
  readonly createDefaults?: C & NoInferFrom<CheckedCreateDefaults<C, Values, Table>>
  /** See {@link UpdateOrCreateOptions.strategy}. */
  readonly strategy?: Strategy
}

/**
 * The type of `updateOrCreate`'s `values` argument: `values` of type `V` as given, checked by
 * {@link CheckedUpdateValues}, and, where a create would leave out a required column, carrying
 * {@link NeedsCreateDefaults}'s message.
 */
export type UpdateValuesArgument<Row, Values, K, V, C, Table extends string = never> = V &
  NoInferFrom<CheckedUpdateValues<V, Row, Values, Table>> &
  NoInferFrom<NeedsCreateDefaults<Row, Values, K, V, C, Table>>
