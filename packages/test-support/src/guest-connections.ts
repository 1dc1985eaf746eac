/** The guest run's connection checks (see guest.ts): free connections before the tests, and the probes' shape. */
import { redact } from './services.js'

/** A connection to a SQL database for the checks, built by the package's global setup from its own driver. */
export interface SqlProbe {
  /** Rows of `text` (one statement, no parameters). */
  query(text: string): Promise<readonly Record<string, unknown>[]>
  /** Close the connection. */
  close(): Promise<void>
}

/** A connection to Redis for the leftover check. */
export interface RedisProbe {
  /** Every key that has no expiry (a key with a TTL goes away by itself). */
  persistentKeys(): Promise<string[]>
  /** Delete `keys`. */
  remove(keys: readonly string[]): Promise<void>
  /** Close the connection. */
  close(): Promise<void>
}

/** How many connections a server has for a newcomer. */
export interface ConnectionBudget {
  /** `Postgres` or `MariaDB / MySQL`, as the message names it. */
  readonly server: string
  /** The server's limit (`max_connections`). */
  readonly max: number
  /** Slots only a superuser (or a reserved role) may use. */
  readonly reserved: number
  /** Connections open now, other than the probe's own. */
  readonly inUse: number
  /** `max - reserved - inUse`. */
  readonly free: number
}

function integer(value: unknown, what: string): number {
  const number = Number(value)
  if (!Number.isInteger(number)) throw new Error(`expected an integer for ${what}, got ${String(value)}`)
  return number
}

/**
 * Postgres's free connections: `max_connections` minus the reserved slots (`superuser_reserved_connections`,
 * and `reserved_connections` from Postgres 16) minus the client connections open now (the probe's excepted).
 */
export async function postgresBudget(probe: SqlProbe): Promise<ConnectionBudget> {
  const [row] = await probe.query(`select current_setting('max_connections')::int as max,
      current_setting('superuser_reserved_connections')::int
        + coalesce(current_setting('reserved_connections', true)::int, 0) as reserved,
      (select count(*)::int from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()) as in_use`)
  return budget('Postgres', row)
}

/** MariaDB / MySQL's free connections: `max_connections` minus the connections open now (the probe's excepted). */
export async function mysqlBudget(probe: SqlProbe): Promise<ConnectionBudget> {
  const [row] = await probe.query(`select @@max_connections as max, 0 as reserved,
      (select count(*) from information_schema.processlist where id <> connection_id()) as in_use`)
  return budget('MariaDB / MySQL', row)
}

function budget(server: string, row: Record<string, unknown> | undefined): ConnectionBudget {
  const max = integer(row?.max, 'max_connections')
  const reserved = integer(row?.reserved, 'reserved connections')
  const inUse = integer(row?.in_use, 'connections in use')
  return { server, max, reserved, inUse, free: max - reserved - inUse }
}

/** The one line that stops the run when `budget` has fewer free connections than `need`, else undefined. */
export function shortfall(
  budget: ConnectionBudget,
  need: number,
  suite: string,
  url: string,
): string | undefined {
  if (budget.free >= need) return undefined
  const reserved = budget.reserved > 0 ? ` - ${budget.reserved} reserved` : ''
  return (
    `${budget.server} at ${redact(url)} has ${Math.max(budget.free, 0)} free connections ` +
    `(max_connections ${budget.max}${reserved} - ${budget.inUse} in use) and ${suite} need ${need}: ` +
    'close some of the other clients or raise max_connections, then run the tests again.'
  )
}

/** A problem found before the tests start: its message is the one line the run prints. */
export class GuestCheckError extends Error {
  /** `GuestCheckError`. */
  override readonly name = 'GuestCheckError'
}

/**
 * Throw a {@link GuestCheckError} when the server behind `probe` has fewer free connections than `need`.
 * Returns the budget it read.
 */
export async function checkConnections(
  probe: SqlProbe,
  kind: 'postgres' | 'mysql',
  need: number,
  suite: string,
  url: string,
): Promise<ConnectionBudget> {
  const read = kind === 'postgres' ? await postgresBudget(probe) : await mysqlBudget(probe)
  const line = shortfall(read, need, suite, url)
  if (line) throw new GuestCheckError(line)
  return read
}

/** Samples how many connections carry `applicationName`, every `everyMs`, and keeps the largest count. */
export class PeakSampler {
  #peak = 0
  #timer: ReturnType<typeof setInterval> | undefined
  #running: Promise<void> = Promise.resolve()
  #busy = false
  readonly #probe: SqlProbe
  readonly #sql: string

  constructor(probe: SqlProbe, applicationName: string, everyMs = 50) {
    this.#probe = probe
    this.#sql = `select count(*)::int as n from pg_stat_activity where application_name = '${applicationName}'`
    this.#timer = setInterval(() => {
      // One sample at a time: on a slow server, queued samples would pile up and hold the teardown.
      if (this.#busy) return
      this.#busy = true
      this.#running = this.#sample().finally(() => {
        this.#busy = false
      })
    }, everyMs)
    this.#timer.unref()
  }

  async #sample(): Promise<void> {
    const [row] = await this.#probe.query(this.#sql).catch(() => [])
    this.#peak = Math.max(this.#peak, Number(row?.n ?? 0))
  }

  /** Stop sampling and return the largest count seen. */
  async stop(): Promise<number> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
    await this.#sample()
    return this.#peak
  }
}
