import { type SQL, type SQLWrapper, sql } from 'drizzle-orm'
import type { AnyMySqlDatabase } from './mysql-database.js'

type Row = Record<string, unknown>

/** The statements of a fenced write that {@link runFencedBlock} runs as one compound statement. */
export interface FencedBlockParts {
  /** The raise of the fence row (`insert … on duplicate key update`), which takes its exclusive lock. */
  readonly raise: SQL
  /** `from <fences> where lock_key = ?`: the fence row. */
  readonly fenceRow: SQL
  /** The fences table's `token` column. */
  readonly token: SQLWrapper
  /** This writer's token. */
  readonly fenceToken: number
  /** `exists (select 1 from t where <key>)`, for a create; none for an unconditional insert. */
  readonly exists: SQL | undefined
  /** The store's `INSERT … RETURNING` (with its key check), run unless the key was found or the lock lost. */
  readonly insert: SQL
}

/** What a fenced block did: `lost` (nothing written), `found` (the key's row exists), or `created` (`row`). */
export type FencedBlockOutcome =
  | { readonly outcome: 'lost' | 'found' }
  | { readonly outcome: 'created'; readonly row: Row }

// Local variables of the block: names no column of a user table is likely to have (a local variable
// would shadow a column of that name in the block's statements).
const TOKEN = sql.raw('getorcreate_fence_token_')
const FOUND = sql.raw('getorcreate_key_found_')

/**
 * One fenced write as MariaDB's anonymous compound statement (`BEGIN NOT ATOMIC … END`, MariaDB ≥ 10.1.1),
 * one round trip: the client sends it as one statement through drizzle's `execute` (mysql2's text protocol,
 * parameters escaped by mysql2 into the text, as for every statement drizzle runs), no `multipleStatements`
 * flag; its `SELECT`s and `INSERT … RETURNING` come back as result sets (mysql2 asks for CLIENT_MULTI_RESULTS).
 *
 * ```sql
 * begin not atomic
 *   declare token bigint; declare found int default 0;
 *   declare exit handler for 1062 begin commit; resignal; end;   -- a create only
 *   declare exit handler for sqlexception begin rollback; resignal; end;
 *   select exists (select 1 from t where key) into found;         -- a create only: found writes nothing
 *   if found then select 'found';
 *   else
 *     set transaction isolation level read committed; start transaction;
 *     insert into fences … on duplicate key update …;             -- the raise: waits for the fence row
 *     select token into token from fences where lock_key = ?;      -- READ COMMITTED: a snapshot taken now
 *     select exists (select 1 from t where key) into found;         -- a create only
 *     if token > ? then rollback; select 'lost';
 *     elseif found then commit; select 'found';
 *     else select 'created'; insert into t … returning …; commit;
 *     end if;
 *   end if;
 * end
 * ```
 *
 * A create whose first read finds the key's row writes nothing and checks no fence (a read needs no lock):
 * it costs a read, not a write of the fence row.
 *
 * An error of any statement runs the handler: the transaction is rolled back (a duplicate key of a create's
 * insert commits the raise first, as the transaction path does before it reads the key's row) and `RESIGNAL`
 * sends the client the statement's own error (errno, SQLSTATE, message), so no transaction is left open on
 * the pooled connection. A `KILL QUERY` or `max_statement_time` interrupt is such an error too (1317, 1969).
 * A client that dies mid-block leaves the server to finish it; the connection's close rolls back anything
 * left open.
 */
function fencedBlock(parts: FencedBlockParts, keepRaiseOnDuplicate: boolean): SQL {
  const readFound = parts.exists ? sql`select ${parts.exists} into ${FOUND};` : sql``
  const onDuplicate = keepRaiseOnDuplicate
    ? sql`declare exit handler for 1062 begin commit; resignal; end;`
    : sql``
  return sql`begin not atomic
  declare ${TOKEN} bigint; declare ${FOUND} int default 0;
  ${onDuplicate}
  declare exit handler for sqlexception begin rollback; resignal; end;
  ${readFound}
  if ${FOUND} then select 'found' as getorcreate_outcome;
  else
    set transaction isolation level read committed; start transaction;
    ${parts.raise};
    select ${parts.token} into ${TOKEN} ${parts.fenceRow};
    ${readFound}
    if ${TOKEN} > ${parts.fenceToken} then rollback; select 'lost' as getorcreate_outcome;
    elseif ${FOUND} then commit; select 'found' as getorcreate_outcome;
    else select 'created' as getorcreate_outcome; ${parts.insert}; commit;
    end if;
  end if;
end`
}

/** The result sets of one statement run through drizzle's mysql2 session (`[results, fields]`). */
function resultSets(result: unknown): Row[][] {
  const results = Array.isArray(result) ? (result[0] as unknown) : undefined
  return Array.isArray(results) ? results.filter((set): set is Row[] => Array.isArray(set)) : []
}

/**
 * Run the fenced write of `parts` as one statement (see {@link fencedBlock}) on `db` (a pool or connection,
 * not a transaction). A create (`parts.exists` given) keeps the raise when its insert hits a duplicate key.
 * Errors are the driver's, unchanged.
 */
export async function runFencedBlock(
  db: AnyMySqlDatabase,
  parts: FencedBlockParts,
): Promise<FencedBlockOutcome> {
  const [status, inserted] = resultSets(await db.execute(fencedBlock(parts, parts.exists !== undefined)))
  const outcome = status?.[0]?.getorcreate_outcome
  if (outcome === 'lost' || outcome === 'found') return { outcome }
  const row = inserted?.[0]
  if (outcome !== 'created' || !row) {
    throw new Error(`mysqlStore: the fenced write's block returned no ${outcome ? 'row' : 'outcome'}.`)
  }
  return { outcome, row }
}
