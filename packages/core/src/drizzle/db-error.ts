import { causeChain } from './shared/cause-chain.js'

/** The first `code` on `error` or its causes that looks like a Postgres SQLSTATE (five characters). */
export function sqlState(error: unknown): string | undefined {
  for (const current of causeChain(error)) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}

/** The first MySQL / MariaDB error (numeric `errno`) on `error` or its causes, with the server's message. */
export function mysqlError(error: unknown): { errno: number; message: string } | undefined {
  for (const current of causeChain(error)) {
    const { errno, sqlMessage, message } = current as {
      errno?: unknown
      sqlMessage?: unknown
      message?: unknown
    }
    if (typeof errno === 'number') {
      return { errno, message: typeof sqlMessage === 'string' ? sqlMessage : String(message ?? '') }
    }
  }
  return undefined
}
