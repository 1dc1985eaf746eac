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
