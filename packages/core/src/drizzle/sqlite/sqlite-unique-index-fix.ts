import type { UniqueIndexFix } from '../../types.js'

/** Lower case as SQLite folds identifiers and its `lower()` works: A–Z only, every other letter as it is. */
function asciiLower(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => letter.toLowerCase())
}

/**
 * The name the fix gives a unique index on `columns` of `table`: `table_col1_col2_<hash>_key`, where the hash
 * (8 hex digits, FNV-1a of the table's and the columns' names, case-folded as SQLite folds them) tells apart
 * names the underscores alone would not (`a_b (c)` and `a (b_c)`): index names are per database, so a
 * migration that adds both indexes must not get one name twice. Exported for tests.
 */
export function sqliteIndexName(table: string, columns: readonly string[]): string {
  const text = asciiLower(JSON.stringify([table, ...columns]))
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return `${table}_${columns.join('_')}_${(hash >>> 0).toString(16).padStart(8, '0')}_key`
}

/**
 * `CREATE UNIQUE INDEX "table_column_1a2b3c4d_key" ON "table" ("column", …)`: SQLite needs a name for the
 * index, and index names are per database; see {@link sqliteIndexName}; `taken` are the names already in use,
 * lower-cased by SQLite (A–Z only), and a number is appended until the name is free. SQLite's unique indexes treat NULLs as
 * distinct and have no option against it: for a nullable key column (`nullable`, lower-cased) the hint says
 * it must be NOT NULL, or a key with a NULL in it is refused (`INVALID_KEY`) even once the index exists.
 */
export function sqliteUniqueIndexFix(
  table: string,
  names: readonly string[],
  taken: ReadonlySet<string>,
  nullableNames: ReadonlySet<string>,
): UniqueIndexFix {
  const base = sqliteIndexName(table, names)
  let indexName = base
  for (let n = 1; taken.has(asciiLower(indexName)); n++) indexName = `${base}${n}`
  const nullable = names.filter((name) => nullableNames.has(name.toLowerCase()))
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
  return {
    table,
    columns: [...names],
    sql: `CREATE UNIQUE INDEX ${quote(indexName)} ON ${quote(table)} (${names.map(quote).join(', ')})`,
    ...(nullable.length > 0
      ? {
          hint:
            `${nullable.join(', ')} may hold NULL, and SQLite's unique indexes treat NULLs as distinct: for a ` +
            `key with a NULL in it to be one row, ${nullable.join(', ')} must be NOT NULL (SQLite cannot add ` +
            `NOT NULL to a column: rebuild the table); until then such a key is refused`,
        }
      : {}),
  }
}

/**
 * {@link UniqueIndexFix} for a key whose covering index compares under another collation than its column
 * (`mismatch`, as `sqliteCollationMismatchOf` says it): no SQL (another index would not help while that one
 * arbitrates `ON CONFLICT`), a hint that says why and what to change.
 */
export function sqliteCollationMismatchFix(
  table: string,
  names: readonly string[],
  mismatch: string,
): UniqueIndexFix {
  return {
    table,
    columns: [...names],
    hint:
      `${mismatch}: the index and a read would disagree on which keys are equal. Recreate the index with the ` +
      "column's collation (no COLLATE clause), or give the column the index's (SQLite cannot change a " +
      "column's collation: rebuild the table)",
  }
}
