/**
 * Which systems of a workload take their turns together. A group's systems are all set up at once and take
 * turns slice by slice (`rounds.ts`), so two systems of one group are measured a fraction of a second apart,
 * and a slow moment of the shared machine falls on both: the ratio between them, which a target judges, keeps
 * little of it. Two systems that a target compares are therefore put in one group. A group holds as many
 * systems as Postgres has connections for their pools at once (5 at the default pool of 16).
 */

/** Groups of at most this many systems, whatever the connections would allow: a pair's slices stay close. */
export const MAX_GROUP_SIZE = 5

/**
 * The groups of one workload's round: every system of `systems` in at least one group of at most `size`,
 * every pair of `pairs` (a target's two systems; pairs naming a system not in `systems` are ignored) in one
 * group. The systems of pairs that link up (a component) share a group where they fit in one; a component too
 * large for one group is split pair by pair, the system they share (the floor most often) then taking a turn in
 * each group it is needed in. Groups are filled first-fit with the largest parts first, systems in no pair last.
 * Deterministic: the same arguments give the same groups.
 */
export function turnGroups(
  systems: readonly string[],
  pairs: readonly (readonly [string, string])[],
  size: number,
): string[][] {
  if (!Number.isInteger(size) || size < 2) throw new RangeError(`group size must be 2 or more, got ${size}`)
  const present = new Set(systems)
  const links = pairs.filter(([a, b]) => a !== b && present.has(a) && present.has(b))
  const parts = components(links).flatMap((component) =>
    component.systems.length <= size ? [component.systems] : splitPairs(component.pairs, size),
  )
  const paired = new Set(parts.flat())
  parts.sort((a, b) => b.length - a.length)
  const groups: string[][] = []
  for (const part of parts) {
    // Parts of one split component share a system: a group that has it already needs room for the rest only.
    const room = groups.find((group) => new Set([...group, ...part]).size <= size)
    if (room) room.push(...part.filter((system) => !room.includes(system)))
    else groups.push([...part])
  }
  for (const system of systems) {
    if (paired.has(system)) continue
    const room = groups.find((group) => group.length < size)
    if (room) room.push(system)
    else groups.push([system])
  }
  return groups
}

/** The systems linked by `pairs`, each set with its pairs (in their order in `pairs`). */
function components(
  pairs: readonly (readonly [string, string])[],
): { systems: string[]; pairs: (readonly [string, string])[] }[] {
  const found: { systems: string[]; pairs: (readonly [string, string])[] }[] = []
  for (const pair of pairs) {
    const [first, ...others] = found.filter((component) =>
      pair.some((system) => component.systems.includes(system)),
    )
    if (!first) {
      found.push({ systems: [...pair], pairs: [pair] })
      continue
    }
    for (const other of others) {
      first.systems.push(...other.systems)
      first.pairs.push(...other.pairs)
      found.splice(found.indexOf(other), 1)
    }
    for (const system of pair) if (!first.systems.includes(system)) first.systems.push(system)
    first.pairs.push(pair)
  }
  // Merging components put their pairs out of order: back in the order of `pairs`, once.
  for (const component of found) component.pairs.sort((a, b) => pairs.indexOf(a) - pairs.indexOf(b))
  return found
}

/** A component too large for one group, split: each pair joins a group holding one of its systems, if it has room. */
function splitPairs(pairs: readonly (readonly [string, string])[], size: number): string[][] {
  const groups: string[][] = []
  for (const [a, b] of pairs) {
    if (groups.some((group) => group.includes(a) && group.includes(b))) continue
    const withA = groups.find((group) => group.includes(a) && group.length < size)
    const withB = groups.find((group) => group.includes(b) && group.length < size)
    if (withA) withA.push(b)
    else if (withB) withB.push(a)
    else groups.push([a, b])
  }
  return groups
}
