/**
 * The `ip` command (iproute2), as the network of the stress run uses it: one command, a batch of commands,
 * JSON listings, and the error every part of the network module throws.
 */
import { execFile, execFileSync } from 'node:child_process'

/** What went wrong in the stress run's network, by stable `code`. */
export type NetnsErrorCode =
  /** `setUpNetwork` was given a tag, a worker count or a service it cannot use; the message says which. */
  | 'NETNS_INVALID_OPTIONS'
  /** Another live run (or this process, not torn down yet) holds namespaces with this tag. */
  | 'NETNS_TAG_IN_USE'
  /** No private block of the size needed is free of every address and route of this machine. */
  | 'NETNS_NO_FREE_SUBNET'
  /** An `ip` command failed; the message carries the command and what it printed. */
  | 'NETNS_COMMAND_FAILED'
  /** `cut` on a network that is not available (plain processes): there is no link to cut. */
  | 'NETNS_UNAVAILABLE'
  /** `cut` after `teardown`, or for a worker the network does not have. */
  | 'NETNS_NO_SUCH_LINK'
  /** After `teardown`, a namespace or link of the run was still there; the message names them. */
  | 'NETNS_TEARDOWN_INCOMPLETE'

/** An error of the stress run's network module. Check `code`, not the message. */
export class NetnsError extends Error {
  override readonly name = 'NetnsError'
  /** A stable identifier of what went wrong. */
  readonly code: NetnsErrorCode

  constructor(code: NetnsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** The command; found on PATH, so that a PATH without it means "no iproute2 here". */
const IP = 'ip'

/** True when the error says the `ip` command itself could not be started (not installed, not on PATH). */
export function isMissingCommand(error: unknown): boolean {
  const cause = error instanceof NetnsError ? error.cause : error
  return (cause as { code?: unknown } | undefined)?.code === 'ENOENT'
}

/** Runs `ip <args>` (with `input` on stdin), resolving with its stdout; rejects with NETNS_COMMAND_FAILED. */
export function ip(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      IP,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout)
        const said = stderr.trim() || error.message
        reject(new NetnsError('NETNS_COMMAND_FAILED', `ip ${args.join(' ')}: ${said}`, { cause: error }))
      },
    )
    // A command that fails before reading its input closes the pipe: its exit status says why, not EPIPE.
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(input ?? '')
  })
}

/**
 * Runs many `ip` commands (one per line, without the leading `ip`) in one process. `force` goes on past a
 * failing line (for removals, where a thing already gone is no failure); without it the batch stops at the
 * first failure and rejects.
 */
export function ipBatch(
  lines: readonly string[],
  options: { force?: boolean; netns?: string } = {},
): Promise<string> {
  if (lines.length === 0) return Promise.resolve('')
  const args = [
    ...(options.netns === undefined ? [] : ['-n', options.netns]),
    ...(options.force ? ['-force'] : []),
  ]
  return ip([...args, '-batch', '-'], `${lines.join('\n')}\n`)
}

/**
 * The same batch, synchronously, errors ignored: for the exit and signal hooks, where nothing asynchronous
 * runs any more.
 */
export function ipBatchSync(lines: readonly string[]): void {
  if (lines.length === 0) return
  try {
    execFileSync(IP, ['-force', '-batch', '-'], {
      input: `${lines.join('\n')}\n`,
      stdio: ['pipe', 'ignore', 'ignore'],
    })
  } catch {
    // A removal that fails here fails again at the next start, which removes leftovers by name.
  }
}

/** `ip -j <args>` parsed: iproute2 prints a JSON array (nothing at all when the list is empty). */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const out = (await ip(['-j', ...args])).trim()
  return out === '' ? [] : (JSON.parse(out) as T[])
}
