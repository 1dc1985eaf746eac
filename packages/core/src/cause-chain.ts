/** How deep a chain is followed: enough for drizzle's wrapping, bounded against a chain that loops. */
const MAX_DEPTH = 8

/**
 * `error` and its causes, outermost first. Driver errors arrive wrapped (drizzle ≥ 0.44 throws
 * `DrizzleQueryError` with the driver's error as `cause`), so a driver's code is looked for along the chain.
 */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let current = error; current && chain.length < MAX_DEPTH; ) {
    chain.push(current)
    current = (current as { cause?: unknown }).cause
  }
  return chain
}

/**
 * The first of `error` and its causes for which `matches` holds: the driver's own error (the one that carries
 * its code), whether drizzle wrapped it (`DrizzleQueryError`, whose `cause` it is) or not (better-sqlite3).
 * What our errors keep as `cause`, so that `error.cause.code` is the database's code.
 */
export function driverErrorIn<T extends object>(
  error: unknown,
  matches: (candidate: object) => candidate is T,
): T | undefined {
  for (const current of causeChain(error)) {
    if (typeof current === 'object' && current !== null && matches(current)) return current
  }
  return undefined
}
