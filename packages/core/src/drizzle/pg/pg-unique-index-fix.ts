import type { UniqueIndexFix } from '../../types.js'

/** What the catalog says of a table, for {@link pgUniqueIndexFix}. */
export interface PgTableFacts {
  /** The schema the table lives in. */
  readonly schema: string
  /** The table's name in the catalog. */
  readonly table: string
  /** `server_version_num`, e.g. `150020`. */
  readonly serverVersion: number
  /** `pg_class.relkind`: `'r'` a table, `'p'` a partitioned table. */
  readonly relkind: string
  /** The columns that may hold NULL. */
  readonly nullable: readonly string[]
  /** A partitioned table's partition key, one entry per part: a column, or `''` for an expression. */
  readonly partitionKey: readonly string[]
}

/** An identifier quoted for Postgres. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * The statement that adds a unique index on exactly `columns` (the database's names) to the table `facts`
 * describe, as {@link UniqueIndexFix}. A nullable column gets `NULLS NOT DISTINCT` on Postgres 15+, so that
 * a key with a NULL in it is one row once the index exists; before 15 the hint says to make it NOT NULL. A
 * partitioned table takes a unique index only if it includes the whole partition key (columns, not
 * expressions): where the key does not, there is no SQL, and the hint points at the lock strategy. Exported
 * for tests.
 */
export function pgUniqueIndexFix(facts: PgTableFacts, columns: readonly string[]): UniqueIndexFix {
  const table = `${facts.schema}.${facts.table}`
  const list = (names: readonly string[]) => names.join(', ')
  if (facts.relkind === 'p') {
    const lacking = facts.partitionKey.filter((part) => part === '' || !columns.includes(part))
    if (lacking.length > 0 || facts.partitionKey.length === 0) {
      const by = facts.partitionKey.map((part) => part || '(an expression)')
      return {
        table,
        columns: [...columns],
        hint:
          `${table} is partitioned by (${list(by)}), and a unique index on a partitioned table must include ` +
          `the whole partition key (columns, not expressions), which this key (${list(columns)}) does not: no ` +
          `index can enforce it. Use redisLockStrategy from @getorcreate/redis-lock, which makes the key unique ` +
          `with a lock instead`,
      }
    }
  }
  const nullable = columns.filter((name) => facts.nullable.includes(name))
  const nullsNotDistinct = nullable.length > 0 && facts.serverVersion >= 150000
  const target = `${quoteIdent(facts.schema)}.${quoteIdent(facts.table)}`
  return {
    table,
    columns: [...columns],
    sql:
      `CREATE UNIQUE INDEX ON ${target} (${columns.map(quoteIdent).join(', ')})` +
      (nullsNotDistinct ? ' NULLS NOT DISTINCT' : ''),
    ...(nullable.length > 0 && !nullsNotDistinct
      ? {
          hint:
            `${list(nullable)} may hold NULL, and before Postgres 15 a unique index treats NULLs as distinct: for ` +
            `a key with a NULL in it to be one row, make ${list(nullable)} NOT NULL (ALTER TABLE … ALTER COLUMN … ` +
            `SET NOT NULL)`,
        }
      : {}),
  }
}

/**
 * {@link UniqueIndexFix} for a key whose covering index compares under another collation than its column
 * (`mismatch`, as `collationMismatchOf` says it): no SQL (another index would not help while that one
 * arbitrates `ON CONFLICT`), a hint that says why and what to change.
 */
export function pgCollationMismatchFix(
  facts: PgTableFacts,
  columns: readonly string[],
  mismatch: string,
): UniqueIndexFix {
  return {
    table: `${facts.schema}.${facts.table}`,
    columns: [...columns],
    hint:
      `${mismatch}, and one of them is nondeterministic: the index and a read would disagree on which keys are ` +
      "equal. Recreate the index with the column's collation (no COLLATE clause), or give the column the " +
      "index's (ALTER TABLE … ALTER COLUMN … TYPE … COLLATE …)",
  }
}
