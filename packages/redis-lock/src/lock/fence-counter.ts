/** The timing allowance and the fencing counter's key and lifetime, shared by the lock's rounds. */

/** Redlock's allowance for clock drift between nodes: 1 % of the TTL plus 2 ms. */
export function driftMs(ttlMs: number): number {
  return Math.floor(ttlMs * 0.01) + 2
}

/**
 * How long a key's fencing counter outlives its last use, in milliseconds (24 h): without an expiry every key
 * ever locked would leave a counter behind forever. An expired counter, like one lost in a restart, starts
 * again from the nodes' clock, which is past every token it handed out (see "Fencing tokens" in the README).
 */
export const FENCE_TTL_MS = 86_400_000

/**
 * A lock key and its fencing counter, `<lock key>:fence`: the suffix keeps the lock key's hash tag, so both
 * share a Cluster slot (the scripts take both).
 */
export function fenceKeys(key: string): [string, string] {
  return [key, `${key}:fence`]
}
