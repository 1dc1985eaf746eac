/**
 * The one signature every benchmarked system has: a small adapter that opens its own connections for one
 * turn, answers `call(key)` with the id it settled on and whether it created the row, and closes again.
 */

/** What a system is: ours (this library), a peer (what people use today), or a floor (one round trip). */
export type SystemKind = 'ours' | 'peer' | 'floor'

/** The workloads of the bench. */
export type WorkloadId = 'miss-storm' | 'burst' | 'hits' | 'mixed'

/** Where a turn runs: the table to use, the pool size, the services. */
export interface SystemContext {
  /** The Postgres to connect to. */
  readonly databaseUrl: string
  /** The table (no schema, already created with the DDL the system asked for). */
  readonly table: string
  /** Connections this process may open to Postgres for this turn: the same for every system. */
  readonly pool: number
  /** The one Redis node (`REDIS_URL`). */
  readonly redisUrl: string
  /** Three independent Redis nodes started by the bench (empty when no system of this run needs them). */
  readonly redisTrioUrls: readonly string[]
}

/** One call's answer: the id of the row the caller was given (none from a floor that got no row back). */
export interface CallResult {
  readonly id: number | undefined
  readonly created: boolean
}

/** A system set up for one turn. */
export interface OpenSystem {
  /** Get or create the row whose `slug` is `key`. */
  call(key: string): Promise<CallResult>
  /** Close every connection `setup` opened. */
  teardown(): Promise<void>
  /**
   * Called before each run of its calls (the warm-up, each slice), where the system changes what the whole
   * process does (a diagnostics subscriber): the other systems of its group run their slices in between.
   */
  enter?(): void
  /** Called after each run of its calls: undo what {@link OpenSystem.enter} did. */
  leave?(): void
}

/** A benchmarked system. */
export interface System {
  /** Stable identifier, used on the command line (`--systems`) and between processes. */
  readonly id: string
  /** What the tables and the chart show. */
  readonly name: string
  readonly kind: SystemKind
  /**
   * The table it runs on: `'unique'` has a unique index on `slug` (what the constraint-based systems need),
   * `'plain'` has a non-unique index on `slug` only (the naive code as people write it, and the lock-based
   * systems that stand in for a unique index the database cannot have).
   */
  readonly table: 'unique' | 'plain'
  /** False when the API has no `created` flag (MikroORM's `upsert`): its created column says n/a. */
  readonly reportsCreated: boolean
  /** The workloads it runs in. Default is all. */
  readonly workloads?: readonly WorkloadId[]
  /** Services it needs besides Postgres. */
  readonly needs?: 'redis' | 'redis-trio'
  /**
   * True when its store checks fencing tokens: the bench then creates (and drops) a fences table beside its
   * table, named by `fencesTableFor` (`tables.ts`).
   */
  readonly fenced?: boolean
  /** Open connections (the pool of `ctx.pool`) and whatever the system builds once per turn. */
  setup(ctx: SystemContext): Promise<OpenSystem>
}
