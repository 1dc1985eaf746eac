import { bigint, customType, datetime, mysqlSchema, mysqlTable } from 'drizzle-orm/mysql-core'
import type { Fence } from '../../types.js'
import { checkFence, DEFAULT_FENCES_TABLE } from '../common/fences.js'

/**
 * The longest lock key a MySQL fences table keeps: `lock_key` is `varchar(255)`. A lock key is
 * `<keyPrefix>{<64 hex digits>}`, so a `keyPrefix` of up to 189 characters fits (the default,
 * `getorcreate:lock:`, is 17).
 */
const MYSQL_LOCK_KEY_LENGTH = 255

/** The lock key's SQL type: ASCII, compared byte for byte (`ascii_bin`), as Redis compares its keys. */
const LOCK_KEY_TYPE = `varchar(${MYSQL_LOCK_KEY_LENGTH}) character set ascii collate ascii_bin`

/** `lock_key`'s drizzle column: its type declared in full, so that drizzle-kit creates it as {@link mysqlFencesSql} does. */
const lockKeyColumn = customType<{ data: string; driverData: string }>({ dataType: () => LOCK_KEY_TYPE })

/** The columns of a MySQL / MariaDB fences table. */
function fenceColumns() {
  return {
    /** The lock key (the Redis key of the lock) whose owners' tokens the row keeps. */
    lockKey: lockKeyColumn('lock_key').primaryKey(),
    /** The largest token a fenced write of this lock key has committed with. */
    token: bigint('token', { mode: 'number' }).notNull(),
    /** The token before the last raise (NULL for a new row). */
    prevToken: bigint('prev_token', { mode: 'number' }),
    /** When a write last raised it, in UTC (`utc_timestamp(6)`): what `pruneFences` goes by. */
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 6 }).notNull(),
  }
}

/**
 * The drizzle definition of the fences table on MySQL / MariaDB, for `drizzleStore(db, table, { fences })`:
 * put it in your schema so that drizzle-kit creates it, or run {@link mysqlFencesSql}'s statement. One table
 * serves every store of the database. `lock_key` is `varchar(255) character set ascii collate ascii_bin`:
 * lock keys are ASCII and compared exactly; a key prefix of up to 189 characters fits.
 *
 * @param name - the table's name, `getorcreate_fences` by default.
 * @param schema - its database; by default the connection's, as for any `mysqlTable`.
 */
export function mysqlFencesTable(name: string = DEFAULT_FENCES_TABLE, schema?: string) {
  return schema === undefined
    ? mysqlTable(name, fenceColumns())
    : mysqlSchema(schema).table(name, fenceColumns())
}

/** A MySQL / MariaDB fences table, as {@link mysqlFencesTable} defines it. */
export type MySqlFencesTable = ReturnType<typeof mysqlFencesTable>

/** `name` as a MySQL identifier: backquoted, backquotes doubled. */
function quoteMySqlIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``
}

/**
 * The statement that creates the fences table on MySQL / MariaDB (InnoDB), for a migration; the same table
 * as {@link mysqlFencesTable}.
 */
export function mysqlFencesSql(name: string = DEFAULT_FENCES_TABLE, schema?: string): string {
  const table =
    schema === undefined ? quoteMySqlIdent(name) : `${quoteMySqlIdent(schema)}.${quoteMySqlIdent(name)}`
  return (
    `create table if not exists ${table} (\n` +
    `  lock_key ${LOCK_KEY_TYPE} primary key,\n` +
    '  token bigint not null,\n' +
    '  prev_token bigint,\n' +
    '  updated_at datetime(6) not null\n' +
    ') engine = InnoDB'
  )
}

/** `checkFence`, and a lock key the fences table's `varchar(255) … ascii_bin` keeps exactly. */
export function checkMySqlFence(fence: Fence): Fence {
  checkFence(fence)
  // Printable ASCII only, and no trailing space (ascii_bin is PAD SPACE: 'k' and 'k ' are one key there).
  if (
    fence.lockKey.length > MYSQL_LOCK_KEY_LENGTH ||
    !/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(fence.lockKey)
  ) {
    throw new TypeError(
      `A MySQL fences table keeps lock keys of up to ${MYSQL_LOCK_KEY_LENGTH} printable ASCII characters, not ` +
        `starting or ending with a space; got ${JSON.stringify(fence.lockKey.slice(0, 300))}.`,
    )
  }
  return fence
}
