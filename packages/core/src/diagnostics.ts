import { createHash } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { isGetOrCreateError } from './errors.js'
import { encodeKey } from './key.js'

/**
 * The names of every `node:diagnostics_channel` channel the library publishes on (see "Observability" in the
 * README). The three operations are tracing channels (`tracingChannel(name)`: `start`, `end`, `asyncStart`,
 * `asyncEnd`, `error`); the lock events are plain channels (`channel(name)`). Nothing is published, and nothing
 * is computed for it, while a channel has no subscriber.
 */
export const DIAGNOSTICS_CHANNELS = {
  /** Tracing channel of `getOrCreate`; its context is a {@link GetOrCreateTrace}. */
  getOrCreate: 'getorcreate:getOrCreate',
  /** Tracing channel of `getOrCreateMany`; its context is a {@link GetOrCreateManyTrace}. */
  getOrCreateMany: 'getorcreate:getOrCreateMany',
  /** Tracing channel of `updateOrCreate`; its context is an {@link UpdateOrCreateTrace}. */
  updateOrCreate: 'getorcreate:updateOrCreate',
  /** A lock was taken ({@link LockEvent}, with `waitMs` and `attempts`). */
  lockAcquired: 'getorcreate:lock:acquired',
  /** A held lock's time to live was renewed by its keeper ({@link LockEvent}). */
  lockExtended: 'getorcreate:lock:extended',
  /** A lock was found lost before a write (`LOCK_LOST`; {@link LockEvent}, with `error`). */
  lockLost: 'getorcreate:lock:lost',
  /** A lock could not be taken in time (`LOCK_UNAVAILABLE`; {@link LockEvent}, with `waitMs` and `error`). */
  lockUnavailable: 'getorcreate:lock:unavailable',
  /** A Redis node did not answer a lock script ({@link LockNodeFailedEvent}). */
  lockNodeFailed: 'getorcreate:lock:node-failed',
} as const

/**
 * What the strategy reports of one call, filled in while it runs when somebody subscribes to the
 * `getorcreate:getOrCreate` channel (`getOrCreate` passes it to {@link Strategy.getOrCreate} as its fourth
 * argument; a strategy may ignore it, and then these stay 0 and `false`).
 */
export interface CallTrace {
  /** Rounds of the strategy's create loop: 0 on a hit, 1 for a create or a lost race, more after a vanished row. */
  attempts: number
  /**
   * Row reads and writes the strategy asked of the store (`find`, the insert methods). On the built-in stores each
   * is one statement, but a fenced create and an advisory-lock create, each one transaction. Catalog look-ups
   * (once per store and key shape) are not counted.
   */
  storeCalls: number
  /** Milliseconds spent taking a lock (the Redis lock's acquire); 0 for a strategy without one. */
  lockWaitMs: number
  /** `true` once the call's first read found no row (so a row it returns without creating came from a racer). */
  missed: boolean
  /** `true` when the call joined another call's operation (single flight) and made no store call of its own. */
  joined: boolean
}

/** How a `getOrCreate` call ended: see "Observability" in the README. */
export type GetOrCreateOutcome = 'hit' | 'created' | 'raced' | 'error'

/** The context object of the `getorcreate:getOrCreate` tracing channel: one per call, the same in every event. */
export interface GetOrCreateTrace extends CallTrace {
  /** Always `'getOrCreate'`. */
  readonly operation: 'getOrCreate'
  /** The store's name (`Store.name`), e.g. `'pg:public.items'`. */
  readonly store: string
  /** The strategy's name (`Strategy.name`), e.g. `'constraint'`. */
  readonly strategy: string
  /**
   * A stable hash of the store name and the key (16 hex digits of SHA-256 over `encodeKey`): the same key of
   * the same store always hashes alike, in every process, so hot keys can be counted without their values.
   * `undefined` only when the call was refused before its key was checked (then `outcome` is `error`). A
   * getter: computed when first read.
   */
  readonly keyHash?: string | undefined
  /** The key's values: only after `configureDiagnostics({ keyValues: true })` (keys can be personal data). */
  key?: Readonly<Record<string, unknown>>
  /** Set before `asyncEnd`: `hit`, `created`, `raced` (found no row, then got another call's), or `error`. */
  outcome?: GetOrCreateOutcome
  /** With `outcome: 'error'`: the error's stable `code` when it is a `GetOrCreateError`. */
  errorCode?: string
  /** Set by the tracing channel before `asyncEnd`: what the call resolved to. */
  result?: unknown
  /** Set by the tracing channel before `error`: what the call rejected with. */
  error?: unknown
}

/** The context object of the `getorcreate:getOrCreateMany` tracing channel. */
export interface GetOrCreateManyTrace {
  /** Always `'getOrCreateMany'`. */
  readonly operation: 'getOrCreateMany'
  /** The store's name. */
  readonly store: string
  /** The strategy's name. */
  readonly strategy: string
  /** How many items the call was given. */
  readonly items: number
  /** Set before `asyncEnd` on success: how many of the results have `created: true`. */
  created?: number
  /** Set before `asyncEnd`: `ok`, or `error`. */
  outcome?: 'ok' | 'error'
  /** With `outcome: 'error'`: the error's stable `code` when it is a `GetOrCreateError`. */
  errorCode?: string
  /** Set by the tracing channel: what the call resolved to. */
  result?: unknown
  /** Set by the tracing channel: what the call rejected with. */
  error?: unknown
}

/** The context object of the `getorcreate:updateOrCreate` tracing channel. */
export interface UpdateOrCreateTrace {
  /** Always `'updateOrCreate'`. */
  readonly operation: 'updateOrCreate'
  /** The store's name. */
  readonly store: string
  /** The strategy's name. */
  readonly strategy: string
  /** As {@link GetOrCreateTrace.keyHash}. */
  readonly keyHash?: string | undefined
  /** The key's values: only after `configureDiagnostics({ keyValues: true })`. */
  key?: Readonly<Record<string, unknown>>
  /** Set before `asyncEnd`: `created`, `updated`, or `error`. */
  outcome?: 'created' | 'updated' | 'error'
  /** With `outcome: 'error'`: the error's stable `code` when it is a `GetOrCreateError`. */
  errorCode?: string
  /** Set by the tracing channel: what the call resolved to. */
  result?: unknown
  /** Set by the tracing channel: what the call rejected with. */
  error?: unknown
}

/** A message of the `getorcreate:lock:*` channels (but `node-failed`). */
export interface LockEvent {
  /** Which lock: `'redis'` (`@getorcreate/redis-lock`). */
  readonly lock: 'redis'
  /** The lock key in Redis (a hash of the table and the key: it holds no key value). */
  readonly lockKey: string
  /** The store's name. */
  readonly store: string
  /** `acquired` and `unavailable`: how long the acquire took, in milliseconds. */
  readonly waitMs?: number
  /** `acquired` and `unavailable`: the acquire's attempts (more than 1: another owner held it). */
  readonly attempts?: number
  /** `lost` and `unavailable`: the error the call throws. */
  readonly error?: Error
}

/** A message of the `getorcreate:lock:node-failed` channel: one node's failure in one round of lock scripts. */
export interface LockNodeFailedEvent {
  /** Which lock: `'redis'`. */
  readonly lock: 'redis'
  /** The node, as `host:port` (or the label the client gives). */
  readonly node: string
  /** Which round: `acquire`, `extend`, `confirm`, `fence` or `release`. */
  readonly operation: string
  /** The lock key in Redis. */
  readonly lockKey: string
  /** Why: the node's error, a timeout, or a connection that is not ready. */
  readonly error: unknown
}

/** Options of {@link configureDiagnostics}. */
export interface DiagnosticsOptions {
  /**
   * `true` to put the key's values in the trace contexts (`key`). Default `false`: keys can be personal data
   * (an email), and subscribers (an OpenTelemetry exporter) may ship them elsewhere; `keyHash` is always there.
   */
  readonly keyValues?: boolean
}

let keyValues = false

/**
 * Process-wide settings of the diagnostics channels (see "Observability" in the README).
 *
 * @throws TypeError for an option of the wrong type.
 */
export function configureDiagnostics(options: DiagnosticsOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('configureDiagnostics: options must be an object, e.g. { keyValues: true }.')
  }
  const value = options.keyValues ?? false
  if (typeof value !== 'boolean') {
    throw new TypeError(`configureDiagnostics: keyValues must be a boolean, got ${typeof value}.`)
  }
  keyValues = value
}

/** A tracing channel, and whether anyone listens to it (`hasSubscribers` is Node 20.13+; older: each channel's). */
interface Traced<Context extends object> {
  readonly channel: diagnosticsChannel.TracingChannel<unknown, Context>
  active(): boolean
}

function traced<Context extends object>(name: string): Traced<Context> {
  const channel = diagnosticsChannel.tracingChannel<unknown, Context>(name)
  const active =
    typeof (channel as { hasSubscribers?: unknown }).hasSubscribers === 'boolean'
      ? () => channel.hasSubscribers
      : () =>
          channel.start.hasSubscribers ||
          channel.end.hasSubscribers ||
          channel.asyncStart.hasSubscribers ||
          channel.asyncEnd.hasSubscribers ||
          channel.error.hasSubscribers
  return { channel, active }
}

/** The `getorcreate:getOrCreate` tracing channel. */
export const getOrCreateTracing = traced<GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate)
/** The `getorcreate:getOrCreateMany` tracing channel. */
export const getOrCreateManyTracing = traced<GetOrCreateManyTrace>(DIAGNOSTICS_CHANNELS.getOrCreateMany)
/** The `getorcreate:updateOrCreate` tracing channel. */
export const updateOrCreateTracing = traced<UpdateOrCreateTrace>(DIAGNOSTICS_CHANNELS.updateOrCreate)

/** {@link GetOrCreateTrace.keyHash} of `key` in the store named `storeName`. */
function keyHashOf(storeName: string, key: Record<string, unknown>): string {
  return createHash('sha256').update(encodeKey(storeName, key)).digest('hex').slice(0, 16)
}

/**
 * The key part of a traced `getOrCreate` or `updateOrCreate` call's context. `keyHash` is a getter: the hash is
 * computed when a subscriber first reads it (then kept), so one that never does pays nothing for it.
 */
export class KeyedContext {
  /** The key's values, only after `configureDiagnostics({ keyValues: true })` (absent, not `undefined`, else). */
  declare key?: Readonly<Record<string, unknown>>
  #storeName = ''
  #checkedKey: Record<string, unknown> | undefined
  #keyHash: string | undefined

  /** Note the call's checked key: from now on `keyHash` answers, and `key` holds it if the user opted in. */
  keyChecked(storeName: string, key: Record<string, unknown>): void {
    this.#storeName = storeName
    this.#checkedKey = key
    if (keyValues) this.key = Object.freeze({ ...key })
  }

  /** See {@link GetOrCreateTrace.keyHash}. */
  get keyHash(): string | undefined {
    if (this.#keyHash === undefined && this.#checkedKey !== undefined) {
      this.#keyHash = keyHashOf(this.#storeName, this.#checkedKey)
    }
    return this.#keyHash
  }
}

/** The context of one traced `getOrCreate` call: its key, and what its strategy reports ({@link CallTrace}). */
export class CallContext extends KeyedContext implements CallTrace {
  attempts = 0
  storeCalls = 0
  lockWaitMs = 0
  missed = false
  joined = false
}

/** The `errorCode` field of a failed call's context: the stable code of a `GetOrCreateError`, else nothing. */
export function errorCodeOf(error: unknown): { errorCode?: string } {
  return isGetOrCreateError(error) ? { errorCode: error.code } : {}
}

/** A store's or strategy's `name` for a trace context, or `'(invalid)'` when it has none (a refused call). */
export function nameOf(thing: unknown): string {
  const name = typeof thing === 'object' && thing !== null ? (thing as { name?: unknown }).name : undefined
  return typeof name === 'string' ? name : '(invalid)'
}
