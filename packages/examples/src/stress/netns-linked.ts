/**
 * A network that is up: its cuts, its connections and its teardown (see `Network` in network.ts for the contract).
 */

import { release } from './netns-exit.js'
import type { Forwarder } from './netns-forwarder.js'
import { ip, NetnsError } from './netns-ip.js'
import { namedFor } from './netns-names.js'
import type { Network, NetworkWorker, WorkerConnections } from './network.js'

/** What netns.ts built, handed over. */
export interface LinkedParts {
  readonly tag: string
  readonly namespaces: readonly string[]
  readonly links: readonly string[]
  /** The root side of each worker's veth. */
  readonly hosts: readonly string[]
  /** The services forwarded (their names say what the connections on each port were for). */
  readonly services: readonly { readonly name: string; readonly port: number }[]
  readonly forwarder: Forwarder
  /** Deletes every link and namespace (errors ignored: checked afterwards). */
  readonly remove: () => Promise<unknown>
  /** What the exit hooks know this network by. */
  readonly handle: object
}

/** A network with namespaces: `available` is true. */
export class LinkedNetwork implements Network {
  /** Always true: see `Network.available`. */
  readonly available = true
  /** Always undefined: see `Network.reason`. */
  readonly reason = undefined
  /** See `Network.workers`. */
  readonly workers: readonly NetworkWorker[]
  readonly #parts: LinkedParts
  /** Per worker: the cuts going on now. */
  readonly #cuts: number[]
  /** Per worker: the last `ip link set` queued, so that downs and ups run in the order they were decided. */
  readonly #queue: Promise<unknown>[]
  #teardown: Promise<void> | undefined
  #wake: (() => void) | undefined
  readonly #tornDown: Promise<void>

  constructor(parts: LinkedParts) {
    this.#parts = parts
    this.workers = Object.freeze(
      parts.namespaces.map((name, index) =>
        Object.freeze({
          prefix: Object.freeze(['ip', 'netns', 'exec', name]),
          host: parts.hosts[index] as string,
        }),
      ),
    )
    this.#cuts = parts.links.map(() => 0)
    this.#queue = parts.links.map(() => Promise.resolve())
    this.#tornDown = new Promise((resolve) => {
      this.#wake = resolve
    })
  }

  #setLink(worker: number, state: 'up' | 'down'): Promise<unknown> {
    const run = () => ip(['link', 'set', this.#parts.links[worker] as string, state])
    const next = (this.#queue[worker] as Promise<unknown>).then(run, run)
    this.#queue[worker] = next.catch(() => undefined)
    return next
  }

  /** See `Network.cut`. */
  async cut(worker: number, ms: number): Promise<void> {
    if (this.#teardown)
      throw new NetnsError('NETNS_NO_SUCH_LINK', 'the network was torn down: no link to cut')
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.workers.length) {
      throw new NetnsError(
        'NETNS_NO_SUCH_LINK',
        `no worker ${worker}: the network has ${this.workers.length}`,
      )
    }
    if (!Number.isFinite(ms) || ms < 0)
      throw new NetnsError('NETNS_INVALID_OPTIONS', `a cut lasts 0 ms or more, got ${ms}`)
    const cuts = this.#cuts
    let timer: NodeJS.Timeout | undefined
    try {
      cuts[worker] = (cuts[worker] ?? 0) + 1
      if (cuts[worker] === 1) await this.#setLink(worker, 'down')
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.#tornDown])
    } finally {
      clearTimeout(timer)
      cuts[worker] = (cuts[worker] ?? 1) - 1
      if (cuts[worker] === 0 && !this.#teardown) await this.#setLink(worker, 'up')
    }
  }

  /** See `Network.connections`. */
  connections(): readonly WorkerConnections[] {
    const accepted = this.#parts.forwarder.accepted()
    return this.#parts.hosts.map((host) => {
      const mine = accepted.filter((entry) => entry.host === host)
      const perService: Record<string, number> = {}
      for (const { port, count } of mine) {
        const name = this.#parts.services.find((service) => service.port === port)?.name ?? String(port)
        perService[name] = (perService[name] ?? 0) + count
      }
      return { from: [...new Set(mine.map((entry) => entry.from))], perService }
    })
  }

  /** See `Network.teardown`. */
  teardown(): Promise<void> {
    this.#teardown ??= this.#tearDown()
    return this.#teardown
  }

  async #tearDown(): Promise<void> {
    this.#wake?.()
    // The forwarder first, while the links are still there to carry its resets to the workers.
    await this.#parts.forwarder.close()
    await Promise.all(this.#queue)
    await this.#parts.remove()
    release(this.#parts.handle)
    const left = await namedFor(this.#parts.tag)
    const ours = [...left.namespaces.filter((name) => this.#parts.namespaces.includes(name)), ...left.links]
    if (ours.length > 0)
      throw new NetnsError('NETNS_TEARDOWN_INCOMPLETE', `still there after teardown: ${ours.join(', ')}`)
  }
}
