import { GetOrCreateError, type GetOrCreateErrorOptions } from './base.js'

/** Options of {@link MissingUniqueConstraintError}: what the store could say about the missing index. */
export interface MissingUniqueConstraintErrorOptions extends GetOrCreateErrorOptions {
  /** The key's fields as the caller named them (property names, sorted). Default is `columns`. */
  readonly fields?: readonly string[]
  /** The store's name (`'pg:public.tags'`). Default is `table`. */
  readonly store?: string
  /** A statement in the store's dialect that adds the missing unique index and runs as printed. */
  readonly sql?: string
  /**
   * What to do where there is no SQL (e.g. `memoryStore`'s `uniqueBy`; a partitioned table: the lock
   * strategy), or a caveat to the SQL (a nullable column). Printed in the message; a hint that names
   * `redisLockStrategy` is printed as the whole fix.
   */
  readonly hint?: string
}

/**
 * `MISSING_UNIQUE_CONSTRAINT`: the constraint strategy found no unique index or constraint that covers
 * exactly the key's columns (partial indexes, deferrable constraints and indexes on more or fewer columns do
 * not count). Without one the database cannot stop two callers from creating two rows. Nothing was written.
 * Fix: run `error.sql` (the statement that adds the index, in the store's dialect, with the database's own
 * names), or use `redisLockStrategy` from `@getorcreate/redis-lock`.
 */
export class MissingUniqueConstraintError extends GetOrCreateError {
  /**
   * The table as the database names it, schema-qualified where it has one (`'public.tags'`, `'shop.tags'`);
   * the store's name when the store cannot say (a custom store without `uniqueIndexFix`).
   */
  readonly table: string
  /**
   * The key's columns as the database names them (`['tenant_id']`), in the order of {@link fields}; the
   * key's fields themselves when the store cannot say.
   */
  readonly columns: readonly string[]
  /** The key's fields as the caller named them (`['tenantId']`: drizzle property names), sorted. */
  readonly fields: readonly string[]
  /** The store's name, e.g. `'pg:public.tags'`. */
  readonly store: string
  /**
   * A statement in the store's dialect, with quoted names, that adds a unique index on exactly
   * {@link columns} and runs as printed; `undefined` when the store cannot say (not SQL, or a custom store)
   * or no such index can be added (a Postgres partitioned table whose partition key the key lacks).
   */
  readonly sql: string | undefined
  /**
   * What to do besides or instead of {@link sql}, also printed in the message, or `undefined`: e.g.
   * `memoryStore`'s `uniqueBy`; that a nullable key column must be made NOT NULL for a key with a NULL in it
   * to be one row (MySQL / MariaDB, SQLite, Postgres before 15); or, for a partitioned table, to use
   * `redisLockStrategy`.
   */
  readonly hint: string | undefined

  constructor(table: string, columns: readonly string[], options: MissingUniqueConstraintErrorOptions = {}) {
    const list = columns.join(', ')
    const fields = options.fields ?? columns
    const named =
      fields.length === columns.length && fields.every((field, i) => field === columns[i])
        ? `(${list})`
        : `(${list}: the key's ${fields.join(', ')})`
    const instead =
      'where the database cannot enforce it (a partitioned table, existing duplicates), use ' +
      'redisLockStrategy from @getorcreate/redis-lock.'
    let fix: string
    if (options.sql !== undefined) {
      fix = `Fix: add one, e.g.\n  ${options.sql};\n${options.hint ? `${options.hint}\n` : ''}or, ${instead}`
    } else if (options.hint !== undefined) {
      // A hint that already says to use the lock strategy (no index can enforce this key) is the whole fix.
      fix = options.hint.includes('redisLockStrategy')
        ? `Fix: ${options.hint}.`
        : `Fix: ${options.hint}; or, ${instead}`
    } else {
      fix = `Fix: add a unique index or constraint on exactly these columns; or, ${instead}`
    }
    super(
      'MISSING_UNIQUE_CONSTRAINT',
      `No unique index or constraint on ${table} covers exactly ${named}, so the database cannot stop two ` +
        `callers from creating two rows for one key. Nothing was written. ${fix}`,
      'cause' in options ? { cause: options.cause } : {},
    )
    this.name = 'MissingUniqueConstraintError'
    this.table = table
    this.columns = Object.freeze([...columns])
    this.fields = Object.freeze([...fields])
    this.store = options.store ?? table
    this.sql = options.sql
    this.hint = options.hint
  }
}
