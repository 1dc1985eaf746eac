import { setImmediate } from 'node:timers'
import { byKeyShape } from './bounded-each.js'
import { causeChain } from './cause-chain.js'
import { rowOfItsOwn } from './single-flight.js'
import { answersOrNone } from './store-answers.js'
import type { BatchAnswer, BatchEntry, Store } from './types.js'

/** The store method this module calls, as its errors name it. */
const METHOD = 'findOrInsertManyAtomically'

/** Entries per statement at most: as `getOrCreateMany` chunks its own batches. */
const MAX_ENTRIES = 1000

/** A statement's entry waiting in a {@link StoreWrites}: the entry, and how to settle its caller's promise. */
interface Waiting {
  readonly entry: BatchEntry<unknown, unknown>
  readonly resolve: (answers: readonly BatchAnswer<unknown>[] | undefined) => void
  readonly reject: (error: unknown) => void
}

/** One store's reads-and-inserts: those asked for since its last batch was sent, and how many are out. */
class StoreWrites {
  /** The entries of the batch being gathered; `undefined` when none is (the next entry starts one). */
  waiting: Waiting[] | undefined = undefined
  /** The statements this store's entries sent that have not answered yet. */
  out = 0
}

/** Per store object: its {@link StoreWrites}. A WeakMap, so that a store the caller dropped takes it along. */
const writesByStore = new WeakMap<object, StoreWrites>()

/**
 * `store.findOrInsertManyAtomically([entry])` (the key read and, where no row holds it, inserted, in one
 * statement), sent together with the entries of the same store object asked for in the same turn of the
 * event loop, as `batchedFind` sends reads: an entry asked for while none of the store's is out (sent and
 * not answered) nor gathered goes at once, alone; those asked for while one is out are gathered and sent
 * with `setImmediate`, one `findOrInsertManyAtomically` per key shape (up to 1,000 entries each), one commit
 * for them all. The store sorts a batch's keys (the built-in Postgres store does), so that two batches
 * waiting for each other's rows do not deadlock.
 *
 * Each caller gets what the statement of its entry alone would have answered it: a one-entry array of its
 * entry's answer (the row, a row object of its own, and whether this statement inserted it; where two
 * entries hold keys the database treats as equal, the store answers both the same row and at most the first
 * `inserted: true`), or `undefined` where the store declines (nothing written: then the caller reads first).
 * A batch the store declines, or refuses by throwing before any I/O (synchronously), goes again entry by entry
 * (it may take an entry alone). So does a batch that fails with a database's refusal of the statement, which
 * wrote nothing ({@link wroteNothing}: one entry's value the table refused, a deadlock), so that each caller
 * gets its own statement's answer or error and no caller fails for another's values. Any other failure (a lost connection, a client timeout:
 * the batch may have committed) fails every caller of the batch with that error: sent again, a key the
 * batch inserted would answer `created: false` to every caller, and none would know it was created.
 *
 * Like the batched reads, the statement runs in the async context (`AsyncLocalStorage`) of the entry that
 * began the batch: a store object must talk through one connection whatever the context of its callers.
 */
export function batchedFindOrInsert<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  entry: BatchEntry<Key, Values>,
): Promise<readonly BatchAnswer<Row>[] | undefined> {
  let writes = writesByStore.get(store)
  if (writes === undefined) {
    writes = new StoreWrites()
    writesByStore.set(store, writes)
  }
  const waiting = writes.waiting
  if (waiting === undefined && writes.out === 0) {
    // Nothing of this store's out, nor gathered: this one goes at once (a caller alone waits for nothing).
    const gathered = writes
    return new Promise((resolve, reject) => {
      sendAlone(store as Store<unknown, unknown, unknown>, { entry, resolve, reject } as Waiting, gathered)
    })
  }
  let batch = waiting
  if (batch === undefined) {
    batch = []
    writes.waiting = batch
    const gathered = writes
    setImmediate(() => {
      const sending = gathered.waiting as Waiting[]
      gathered.waiting = undefined
      send(store as Store<unknown, unknown, unknown>, sending, gathered)
    })
  }
  const joining = batch
  return new Promise((resolve, reject) => {
    joining.push({ entry, resolve, reject } as Waiting)
  })
}

/**
 * The store's `findOrInsertManyAtomically`, called with `entries`: its answer as a promise; a synchronous
 * throw (a check before any I/O) as `{ thrown }`.
 */
function call(
  store: Store<unknown, unknown, unknown>,
  entries: readonly BatchEntry<unknown, unknown>[],
): Promise<readonly BatchAnswer<unknown>[] | undefined> | { readonly thrown: unknown } {
  try {
    return Promise.resolve(
      (store.findOrInsertManyAtomically as NonNullable<typeof store.findOrInsertManyAtomically>).call(
        store,
        entries,
      ),
    )
  } catch (thrown) {
    return { thrown }
  }
}

/** One statement for `waiting`'s entry alone: its answer (checked) or error to its caller. */
function sendAlone(store: Store<unknown, unknown, unknown>, waiting: Waiting, writes: StoreWrites): void {
  const answer = call(store, [waiting.entry])
  if (!(answer instanceof Promise)) {
    waiting.reject(answer.thrown)
    return
  }
  writes.out++
  answer.then(
    (answered) => {
      writes.out--
      try {
        const answers = answersOrNone(answered, store, METHOD)
        if (answers !== undefined && answers.length !== 1) throw wrongLength(store, answers.length, 1)
        waiting.resolve(answers)
      } catch (error) {
        waiting.reject(error)
      }
    },
    (error: unknown) => {
      writes.out--
      waiting.reject(error)
    },
  )
}

/** Sends `batch`, per key shape and in chunks of {@link MAX_ENTRIES}: an entry alone, else one statement. */
function send(store: Store<unknown, unknown, unknown>, batch: readonly Waiting[], writes: StoreWrites): void {
  let shapes: number[][]
  try {
    shapes = byKeyShape(batch.map((waiting) => waiting.entry.key))
  } catch {
    // A key that is not a plain object (a strategy written outside core): each entry on its own.
    for (const waiting of batch) sendAlone(store, waiting, writes)
    return
  }
  for (const indexes of shapes) {
    for (let from = 0; from < indexes.length; from += MAX_ENTRIES) {
      const chunk = indexes.slice(from, from + MAX_ENTRIES).map((i) => batch[i] as Waiting)
      if (chunk.length === 1) sendAlone(store, chunk[0] as Waiting, writes)
      else sendMany(store, chunk, writes)
    }
  }
}

/** One statement for the entries of `batch` (one key shape, two or more): see {@link batchedFindOrInsert}. */
function sendMany(
  store: Store<unknown, unknown, unknown>,
  batch: readonly Waiting[],
  writes: StoreWrites,
): void {
  const alone = () => {
    for (const waiting of batch) sendAlone(store, waiting, writes)
  }
  const failAll = (error: unknown) => {
    for (const waiting of batch) waiting.reject(error)
  }
  const answer = call(
    store,
    batch.map((waiting) => waiting.entry),
  )
  if (!(answer instanceof Promise)) {
    // Thrown before any I/O (one entry's key refused, say): each entry alone gets its own answer or error.
    alone()
    return
  }
  writes.out++
  answer.then(
    (answered) => {
      writes.out--
      let answers: readonly BatchAnswer<unknown>[] | undefined
      try {
        answers = answersOrNone(answered, store, METHOD)
        if (answers === undefined) {
          // Declined, nothing written: the store may take each entry alone.
          alone()
          return
        }
        // Read once, an array of its own: a store's answer is not read again after callers get theirs.
        const length = answers.length
        if (length !== batch.length) throw wrongLength(store, length, batch.length)
        answers = Array.from(answers)
      } catch (error) {
        // An answer that breaks the contract, after a statement that may have written: nobody can be told
        // which row is theirs.
        failAll(error)
        return
      }
      // A row object answered twice (keys the database treats as equal) is copied for the later caller, as
      // single flight copies a shared row.
      const given = new Set<unknown>()
      batch.forEach((waiting, j) => {
        try {
          const answer = answers[j] as BatchAnswer<unknown>
          const row = answer?.row
          const own = rowOfItsOwn(row, given)
          waiting.resolve([own === row ? answer : { row: own, inserted: answer.inserted }])
        } catch (error) {
          // An answer that cannot be read (a getter that throws): this caller gets the error.
          waiting.reject(error)
        }
      })
    },
    (error: unknown) => {
      writes.out--
      if (wroteNothing(error)) alone()
      else failAll(error)
    },
  )
}

/** The `TypeError` for an answer of `length` entries where `expected` were sent. */
function wrongLength(store: { readonly name: string }, length: number, expected: number): TypeError {
  return new TypeError(
    `Store ${store.name}: ${METHOD} answered ${length} entries for ${expected}: it must answer one per entry, ` +
      'in their order, or undefined (declined, nothing written).',
  )
}

/** SQLSTATE classes after which the commit may have happened: connection (08), operator intervention (57P), internal (XX). */
const MAY_HAVE_COMMITTED = /^(08|57P|XX)/

/**
 * Whether `error` (or one of its causes: drizzle wraps the driver's error) is a database's refusal of a
 * statement, which wrote nothing since the statement, and the transaction it committed alone, rolled back:
 * a Postgres error (a SQLSTATE `code`, with a `severity`) outside classes 08 (connection), 57P (operator
 * intervention, the session terminated) and XX (internal), and not `FATAL` or `PANIC` (node-postgres and PGlite
 * give the severity in the server's language, so the code decides); a MySQL / MariaDB error (`errno` and
 * `sqlState`) not `fatal` to the connection, outside class 08; a SQLite result code (`SQLITE_…`). Not so a
 * lost connection or a client's timeout: the commit may have happened before it.
 */
export function wroteNothing(error: unknown): boolean {
  for (const current of causeChain(error)) {
    if (typeof current !== 'object' || current === null) continue
    const { code, severity, sqlState, errno, fatal } = current as Record<string, unknown>
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string') {
      return !MAY_HAVE_COMMITTED.test(code) && severity !== 'FATAL' && severity !== 'PANIC'
    }
    if (typeof errno === 'number' && typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState)) {
      return fatal !== true && !sqlState.startsWith('08')
    }
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return true
  }
  return false
}
