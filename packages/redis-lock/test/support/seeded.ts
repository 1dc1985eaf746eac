/**
 * Seeded randomness for the fault runs: the same seed gives the same choices (which writes pause, which worker
 * is stopped, for how long, which Redis node restarts), so a failing run's seed, printed by the test, replays
 * its choices (the timing between processes still varies).
 */

/** Numbers in [0, 1) from `seed` (mulberry32: enough to pick faults, not for anything secret). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** A whole number in [min, max], drawn from `random`. */
export function between(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1))
}
