/**
 * Driver errors arrive wrapped (drizzle ≥ 0.44 throws `DrizzleQueryError` with the driver's error as `cause`),
 * so codes are read from the whole cause chain.
 */

/** The first `code` on `error` or its causes that looks like a Postgres SQLSTATE (five characters). */
export function sqlState(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** The first numeric MySQL / MariaDB `errno` on `error` or its causes. */
export function mysqlErrno(error: unknown): number | undefined {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    const errno = (current as { errno?: unknown }).errno
    if (typeof errno === 'number') return errno
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
