import type { LockNode } from './lock-node.js'

/** Per node: the script's reply, or why it failed. */
export interface Tally {
  /** The replies of the nodes that answered, as numbers, in node order. */
  readonly replies: number[]
  /** The nodes that did not answer, each with its error. */
  readonly errors: { readonly node: string; readonly error: unknown }[]
}

/** The {@link Tally} of one script run on every node: `results[i]` is `nodes[i]`'s. */
export function tally(nodes: readonly LockNode[], results: readonly PromiseSettledResult<unknown>[]): Tally {
  const replies: number[] = []
  const errors: { node: string; error: unknown }[] = []
  results.forEach((result, index) => {
    const node = nodes[index]!.label
    if (result.status === 'fulfilled') replies.push(Number(result.value))
    else errors.push({ node, error: result.reason })
  })
  return { replies, errors }
}

/**
 * What went wrong on each node, `node: message`, or the message alone where it already names the node (a
 * node that is not connected, a command that timed out): never "Redis node X: Redis node X is …".
 */
export function describeErrors(errors: Tally['errors']): string {
  return errors
    .map(({ node, error }) => {
      const message = error instanceof Error ? error.message : String(error)
      return message.startsWith(node) ? message : `${node}: ${message}`
    })
    .join('; ')
}

/**
 * The `cause` option of a lock error: an `AggregateError` of the nodes' errors, or nothing when every node
 * answered (a lock held by another owner is no node's fault).
 */
export function causeOf(errors: Tally['errors']): { cause?: unknown } {
  if (errors.length === 0) return {}
  return {
    cause: new AggregateError(
      errors.map(({ error }) => error),
      describeErrors(errors),
    ),
  }
}
