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

/** The first MySQL / MariaDB error (numeric `errno`) on `error` or its causes, with the server's message. */
export function mysqlError(error: unknown): { errno: number; message: string } | undefined {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    const { errno, sqlMessage, message } = current as {
      errno?: unknown
      sqlMessage?: unknown
      message?: unknown
    }
    if (typeof errno === 'number') {
      return { errno, message: typeof sqlMessage === 'string' ? sqlMessage : String(message ?? '') }
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
