import { setImmediate } from 'node:timers'
import { byKeyShape } from './bounded-each.js'
import { rowOfItsOwn } from './single-flight.js'
import type { Store } from './types.js'

/** A read waiting in a {@link StoreReads}: its key, and how to settle its caller's promise. */
interface Waiting {
  readonly key: unknown
  readonly resolve: (row: unknown) => void
  readonly reject: (error: unknown) => void
}

/** One store's reads: those asked for since its last batch was sent, and how many statements are out. */
class StoreReads {
  /** The reads of the batch being gathered; `undefined` when none is (the next read starts one). */
  waiting: Waiting[] | undefined = undefined
  /** The statements (`find` or `findMany`) this store's reads sent that have not answered yet. */
  out = 0
}

/** Per store object: its {@link StoreReads}. A WeakMap, so that a store the caller dropped takes it along. */
const readsByStore = new WeakMap<object, StoreReads>()

/**
 * Runs `send` once the event loop has run the rest of this turn's callbacks. `node:timers`' own
 * `setImmediate`, not the global one: fake timers in the caller's tests (vitest's, Jest's, sinon's) replace
 * the global, and a batch queued on a fake timer would never be sent.
 */
const afterThisTurn = (send: () => void): void => {
  setImmediate(send)
}

/**
 * `store.find(key)` (a plain read), sent together with the other plain reads of the same store object asked
 * for in the same turn of the event loop. A read asked for while none of the store's reads is out (sent and
 * not answered) nor gathered goes at once, as a `find`: a caller alone, or the first of a burst, waits for
 * nothing. The reads asked for while one is out are gathered and sent with `setImmediate`, after the I/O
 * callbacks of the loop's current iteration (so the reads of every caller that a batch of replies woke are
 * in it): one `store.findMany` for the reads of one key shape when they are two or more, `store.find` for a
 * read alone. Each
 * caller gets what `find` would have answered it: the row `findMany` answers for its key (the database's
 * equality, as `find`'s), a row object of its own. A batch that fails, or that `findMany` answers with
 * other than one entry per key, is sent again as one `find` per key, so that each caller gets its own read's
 * row or error.
 *
 * A store without `findMany`, or bound to a transaction (`inTransaction`: its statements run one at a time
 * anyway, and one failed statement aborts the rest), is asked `find(key)` at once. The batch's statement
 * runs in the async context (`AsyncLocalStorage`) of the read that began the batch: a store object must talk
 * through one connection or transaction whatever the context of its callers. The built-in strategies'
 * plain reads come here (their `batchReads` option); for strategies written outside core, as theirs.
 *
 * @param store - the store to read from.
 * @param key - a validated key, as `find` takes it; kept (not copied) until the batch is sent.
 * @returns the row of `key`, or `undefined` where none.
 *
 * @example
 * ```ts
 * // In a strategy's getOrCreate: a hit costs a share of one statement when many calls read at once.
 * const found = await batchedFind(store, key)
 * if (found !== undefined) return { row: found, created: false }
 * ```
 */
export function batchedFind<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
): Promise<Row | undefined> {
  if (typeof store.findMany !== 'function' || store.inTransaction === true) {
    try {
      return Promise.resolve(store.find(key))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  let reads = readsByStore.get(store)
  if (reads === undefined) {
    reads = new StoreReads()
    readsByStore.set(store, reads)
  }
  let waiting = reads.waiting
  if (waiting === undefined && reads.out === 0) {
    // Nothing of this store's reads out, nor gathered: this one goes at once, with no wait for the turn to
    // end (a caller alone, or the first of a burst, pays no latency for the batching).
    return new Promise<Row | undefined>((resolve, reject) => {
      findAlone(store, { key, resolve: resolve as Waiting['resolve'], reject }, reads)
    })
  }
  if (waiting === undefined) {
    waiting = []
    reads.waiting = waiting
    const gathered = reads
    afterThisTurn(() => {
      const batch = gathered.waiting as Waiting[]
      gathered.waiting = undefined
      send(store, batch, gathered)
    })
  }
  const batch = waiting
  return new Promise<Row | undefined>((resolve, reject) => {
    batch.push({ key, resolve: resolve as Waiting['resolve'], reject })
  })
}

/** One `find` for `read`, its answer or error to its caller, counted in `reads.out` until it answers. */
function findAlone<Row, Key, Values>(store: Store<Row, Key, Values>, read: Waiting, reads: StoreReads): void {
  let answer: Promise<Row | undefined>
  try {
    answer = Promise.resolve(store.find(read.key as Key))
  } catch (error) {
    read.reject(error)
    return
  }
  reads.out++
  answer.then(
    (row) => {
      reads.out--
      read.resolve(row)
    },
    (error: unknown) => {
      reads.out--
      read.reject(error)
    },
  )
}

/** Sends `batch`, per key shape: a read alone as `find`, else one `findMany` (see {@link batchedFind}). */
function send<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  batch: readonly Waiting[],
  gathered: StoreReads,
): void {
  let shapes: number[][]
  try {
    shapes = byKeyShape(batch.map((read) => read.key))
  } catch {
    // A key that is not a plain object (a strategy written outside core): each read on its own.
    for (const read of batch) findAlone(store, read, gathered)
    return
  }
  for (const indexes of shapes) {
    sendShape(
      store,
      indexes.map((i) => batch[i] as Waiting),
      gathered,
    )
  }
}

/** Reads of one key shape: alone as `find`, else one `findMany`. */
function sendShape<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  reads: readonly Waiting[],
  gathered: StoreReads,
): void {
  if (reads.length === 1) {
    findAlone(store, reads[0] as Waiting, gathered)
    return
  }
  const alone = () => {
    for (const read of reads) findAlone(store, read, gathered)
  }
  let answer: Promise<(Row | undefined)[]>
  try {
    answer = Promise.resolve(
      (store.findMany as NonNullable<typeof store.findMany>).call(
        store,
        reads.map((read) => read.key as Key),
      ),
    )
  } catch {
    alone()
    return
  }
  gathered.out++
  answer.then(
    (answered) => {
      gathered.out--
      const rows = plainAnswers<Row | undefined>(answered, reads.length)
      if (rows === undefined) {
        alone()
        return
      }
      // A row object answered twice (a store that answers one object for keys it found alike) is copied
      // for the second caller, as single flight copies a shared row.
      const given = new Set<unknown>()
      reads.forEach((read, j) => {
        try {
          read.resolve(rowOfItsOwn(rows[j], given))
        } catch (error) {
          // A row that cannot be read to be copied (a getter that throws): this caller gets the error.
          read.reject(error)
        }
      })
    },
    () => {
      gathered.out--
      alone()
    },
  )
}

/**
 * `answered` as an array of its own with `length` entries, read once; `undefined` where it is not such an array
 * or reading it throws (an entry whose getter throws): then each read of the batch goes alone, and no caller is
 * left waiting.
 */
function plainAnswers<T>(answered: unknown, length: number): T[] | undefined {
  try {
    return Array.isArray(answered) && answered.length === length ? Array.from(answered as T[]) : undefined
  } catch {
    return undefined
  }
}
