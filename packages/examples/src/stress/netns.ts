/**
 * The network of a stress run: each worker process in a network namespace of its own (its own "machine"),
 * joined to the root namespace by a veth pair, reaching every service through the forwarder
 * (netns-forwarder.ts) on the root side of its veth. A fault can cut one worker's link for a while.
 *
 * Where the machine does not allow it (not Linux, not root, no `ip` command, `ip netns add` refused), the
 * network is `available: false` with the reason, and the workers run as plain processes on 127.0.0.1
 * (`plainNetwork` in network.ts, where the `Network` shape both share is).
 */

import { holdUntilExit, release } from './netns-exit.js'
import { startForwarder } from './netns-forwarder.js'
import { ip, ipBatch, isMissingCommand, NetnsError } from './netns-ip.js'
import { LinkedNetwork } from './netns-linked.js'
import {
  checkTag,
  checkTagFree,
  INSIDE_LINK,
  linkName,
  MAX_WORKERS,
  namespaceName,
  removeLeftovers,
} from './netns-names.js'
import { chooseSubnet, othersInSubnet, rangesInUse, type Subnet, workerAddresses } from './netns-subnet.js'
import { type Network, plainNetwork } from './network.js'

/** What {@link setUpNetwork} builds. */
export interface SetUpNetworkOptions {
  /** How many workers, each in a namespace of its own: 1 to 1000. */
  readonly workers: number
  /**
   * The services to forward: each listens on 127.0.0.1 at its own `port` (redis-server nodes on various ports
   * included); `name` is for messages.
   */
  readonly services: readonly { readonly name: string; readonly port: number }[]
  /**
   * What this run's names carry (1 to 8 lower-case letters or digits), so that runs at the same time do not
   * collide and a crashed run's leftovers can be found.
   */
  readonly tag: string
}

/** Runs whose chosen block another run took at the same instant retry with a new block this many times. */
const SUBNET_ATTEMPTS = 3

function checkOptions(options: SetUpNetworkOptions): void {
  checkTag(options.tag)
  const { workers, services } = options
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new NetnsError(
      'NETNS_INVALID_OPTIONS',
      `workers must be an integer from 1 to ${MAX_WORKERS}, got ${workers}`,
    )
  }
  const ports = services.map((service) => service.port)
  const bad = ports.find((port) => !Number.isInteger(port) || port < 1 || port > 65_535)
  if (bad !== undefined) throw new NetnsError('NETNS_INVALID_OPTIONS', `not a TCP port: ${bad}`)
  if (new Set(ports).size !== ports.length)
    throw new NetnsError('NETNS_INVALID_OPTIONS', `two services on one port: ${ports.join(', ')}`)
}

/** Why this machine cannot give workers namespaces, before trying anything; undefined when it may. */
function refusal(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`
  const uid = process.getuid?.()
  if (uid !== 0) return `not root (uid ${uid}): creating network namespaces and veth links needs root`
  return undefined
}

const NO_IP = 'no `ip` command (iproute2) on PATH: it creates the namespaces and links'

/**
 * Builds the network of a run: removes what crashed runs left (namespaces of processes that are gone),
 * chooses a free private block, makes a namespace per worker (`lo` and `eth0` up, no default route: from
 * inside, only the worker's own loopback and its veth's /30 are reachable), and starts the forwarder on each
 * veth's root side at each service's port. On a machine that does not allow it, returns a network with
 * `available: false` and the reason. Rejects with NETNS_INVALID_OPTIONS, NETNS_TAG_IN_USE or
 * NETNS_NO_FREE_SUBNET.
 *
 * @example
 * ```ts
 * const network = await setUpNetwork({ workers: 4, services: [{ name: 'postgres', port: 5432 }], tag: 'a1b2c3d4' })
 * if (!network.available) console.log(`workers run as plain processes: ${network.reason}`)
 * const worker = network.workers[0]!
 * const [command, ...args] = [...worker.prefix, process.execPath, 'worker.js']
 * spawn(command!, args, { env: { ...process.env, SERVICE_HOST: worker.host } })
 * await network.teardown()
 * ```
 */
export async function setUpNetwork(options: SetUpNetworkOptions): Promise<Network> {
  checkOptions(options)
  const refused = refusal()
  if (refused) return plainNetwork(options.workers, refused)
  try {
    await removeLeftovers()
  } catch (error) {
    if (isMissingCommand(error)) return plainNetwork(options.workers, NO_IP)
    throw error
  }
  await checkTagFree(options.tag)
  for (let attempt = 0; attempt < SUBNET_ATTEMPTS; attempt++) {
    const subnet = chooseSubnet(options.workers, await rangesInUse())
    const network = await build(options, subnet)
    if (network !== 'collided') return network
  }
  throw new NetnsError(
    'NETNS_NO_FREE_SUBNET',
    `${SUBNET_ATTEMPTS} blocks in a row were taken by other runs at the same time`,
  )
}

/** Makes the namespaces, links and forwarder on `subnet`; 'collided' when another run took the block too. */
async function build(options: SetUpNetworkOptions, subnet: Subnet): Promise<Network | 'collided'> {
  const { tag, services } = options
  const indexes = Array.from({ length: options.workers }, (_, index) => index)
  const namespaces = indexes.map((index) => namespaceName(tag, index))
  const links = indexes.map((index) => linkName(tag, index))
  const addresses = indexes.map((index) => workerAddresses(subnet, index))
  const removal = [
    ...links.map((link) => `link del ${link}`),
    ...namespaces.map((name) => `netns del ${name}`),
  ]
  const remove = () => ipBatch(removal, { force: true }).catch(() => undefined)
  const handle = {}
  holdUntilExit(handle, removal)
  const giveUp = async (reason: string) => {
    await remove()
    release(handle)
    return plainNetwork(options.workers, reason)
  }
  try {
    // The first namespace alone: where namespaces are refused, this is what says so.
    await ip(['netns', 'add', namespaces[0] as string])
  } catch (error) {
    return giveUp(
      isMissingCommand(error) ? NO_IP : `cannot create a network namespace: ${(error as Error).message}`,
    )
  }
  try {
    await ipBatch(
      indexes.flatMap((index) => {
        const link = links[index] as string
        return [
          ...(index === 0 ? [] : [`netns add ${namespaces[index]}`]),
          `link add ${link} type veth peer name ${INSIDE_LINK} netns ${namespaces[index]}`,
          // No IPv6 link-local address either side: the only addresses are the ones assigned here.
          `link set ${link} addrgenmode none`,
          `addr add ${addresses[index]?.root}/30 dev ${link}`,
          `link set ${link} up`,
        ]
      }),
    )
    for (const index of indexes) {
      await ipBatch(
        [
          'link set lo up',
          `link set ${INSIDE_LINK} addrgenmode none`,
          `addr add ${addresses[index]?.inside}/30 dev ${INSIDE_LINK}`,
          `link set ${INSIDE_LINK} up`,
        ],
        { netns: namespaces[index] as string },
      )
    }
  } catch (error) {
    return giveUp(`cannot link the namespaces: ${(error as Error).message}`)
  }
  if ((await othersInSubnet(subnet, new Set(links))).length > 0) {
    await remove()
    release(handle)
    return 'collided'
  }
  let forwarder: Awaited<ReturnType<typeof startForwarder>>
  try {
    forwarder = await startForwarder(
      addresses.flatMap(({ root }) => services.map(({ port }) => ({ host: root, port }))),
    )
  } catch (error) {
    return giveUp(
      `the forwarder cannot listen on the veths (a service bound to every address?): ${(error as Error).message}`,
    )
  }
  return new LinkedNetwork({
    tag,
    namespaces,
    links,
    hosts: addresses.map(({ root }) => root),
    services,
    forwarder,
    remove,
    handle,
  })
}
