/**
 * Names the tests create (tables, schemas, Redis keys, temporary directories) carry the run's tag,
 * `_run<8 hex digits>_`: the guest checks (guest.ts) tell by it which leftovers this run made (fail and
 * remove), which another run still going made (its own teardown judges them), and which no test run made
 * (named and left alone).
 */
import { randomBytes } from 'node:crypto'

/** The environment variable that carries this run's tag to the test workers and the processes they start. */
export const RUN_TAG_ENV = 'GETORCREATE_TEST_RUN'

/** The prefix of the SQLite tests' temporary directories (the leftover check looks for it in the tmpdir). */
export const SQLITE_DIR_PREFIX = 'getorcreate-sqlite'

const TAGGED = /_run([0-9a-f]{8})_/

/** This run's tag: 8 hex digits, set by the global setup and inherited by workers and their processes. */
export function runTag(): string {
  let tag = process.env[RUN_TAG_ENV]
  if (!tag || !/^[0-9a-f]{8}$/.test(tag)) {
    tag = randomBytes(4).toString('hex')
    process.env[RUN_TAG_ENV] = tag
  }
  return tag
}

/**
 * A name for a table, schema, key prefix or directory a test creates: `<prefix>_run<tag>_<random>`. The tag
 * tells the leftover check that this run made it, and lets a run ignore the tables of another run that is
 * going on at the same time. The test drops what it creates.
 */
export function scratchName(prefix = 't'): string {
  return `${prefix}_run${runTag()}_${randomBytes(6).toString('hex')}`
}

/** The run tag a name carries (`_run<tag>_` anywhere in it), or undefined for a name no test run made. */
export function taggedRun(name: string): string | undefined {
  return TAGGED.exec(name)?.[1]
}
