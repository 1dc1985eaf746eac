/**
 * The addresses of one run: a private IPv4 block that no address and no route of this machine touches, cut
 * into a /30 per worker (the root side of its veth `.1`, the namespace side `.2`). Nothing outside the block is
 * ever assigned or routed to, so the run's traffic stays on loopback and on the links it made.
 */
import { randomInt } from 'node:crypto'
import { ipJson, NetnsError } from './netns-ip.js'

/** A range of IPv4 addresses, both ends included, as 32-bit numbers. */
interface Range {
  readonly first: number
  readonly last: number
}

/** Where blocks are taken from: 10.0.0.0/8 first, then the shared address space 100.64.0.0/10. */
const POOLS: readonly Range[] = [cidr('10.0.0.0', 8), cidr('100.64.0.0', 10)]

/** Random tries per pool before giving up: a machine with that many routes in both pools is unusual. */
const TRIES = 200

function toNumber(address: string): number {
  const parts = address.split('.').map(Number)
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new Error(`not an IPv4 address: ${address}`)
  }
  return parts.reduce((sum, part) => sum * 256 + part, 0)
}

/** The dotted form of a 32-bit address. */
function toAddress(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}

function cidr(address: string, prefix: number): Range {
  const size = 2 ** (32 - prefix)
  const first = Math.floor(toNumber(address) / size) * size
  return { first, last: first + size - 1 }
}

/** `a.b.c.d/n` or a bare `a.b.c.d` (a host route) as a range. */
function parseDestination(text: string): Range {
  const [address = '', prefix] = text.split('/')
  return cidr(address, prefix === undefined ? 32 : Number(prefix))
}

const overlaps = (a: Range, b: Range): boolean => a.first <= b.last && b.first <= a.last

/** Every IPv4 range this machine's root namespace holds an address in or has a route to, the default route aside. */
export async function rangesInUse(): Promise<Range[]> {
  const links = await ipJson<{ ifname: string; addr_info?: { local: string; prefixlen: number }[] }>([
    '-4',
    'addr',
  ])
  const routes = await ipJson<{ dst: string }>(['-4', 'route', 'show', 'table', 'all'])
  return [
    ...links.flatMap((link) => (link.addr_info ?? []).map((info) => cidr(info.local, info.prefixlen))),
    ...routes.filter((route) => route.dst !== 'default').map((route) => parseDestination(route.dst)),
  ]
}

/** The block of one run: where it starts and how many addresses it spans (a power of two, 4 per worker). */
export interface Subnet {
  readonly first: number
  readonly size: number
}

/** The smallest aligned block with a /30 per worker. */
function blockSize(workers: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(4, workers * 4)))
}

/** A random free block for `workers` workers, checked against every address and route in `inUse`. */
export function chooseSubnet(workers: number, inUse: readonly Range[]): Subnet {
  const size = blockSize(workers)
  for (const pool of POOLS) {
    const blocks = (pool.last - pool.first + 1) / size
    for (let attempt = 0; attempt < TRIES; attempt++) {
      const first = pool.first + randomInt(0, blocks) * size
      const block = { first, last: first + size - 1 }
      if (!inUse.some((range) => overlaps(range, block))) return { first, size }
    }
  }
  throw new NetnsError(
    'NETNS_NO_FREE_SUBNET',
    `no free block of ${size} addresses in 10.0.0.0/8 or 100.64.0.0/10: every one tried overlaps an address or route of this machine`,
  )
}

/** The root-side and namespace-side addresses of worker `index`'s /30. */
export function workerAddresses(subnet: Subnet, index: number): { root: string; inside: string } {
  const base = subnet.first + index * 4
  return { root: toAddress(base + 1), inside: toAddress(base + 2) }
}

/**
 * The interfaces (other than `own`) holding an address inside the run's block: empty unless another run chose
 * the same block at the same moment (the check after the addresses are assigned, which then retries).
 */
export async function othersInSubnet(subnet: Subnet, own: ReadonlySet<string>): Promise<string[]> {
  const links = await ipJson<{ ifname: string; addr_info?: { local: string; prefixlen: number }[] }>([
    '-4',
    'addr',
  ])
  const block = { first: subnet.first, last: subnet.first + subnet.size - 1 }
  return links
    .filter((link) => !own.has(link.ifname))
    .filter((link) =>
      (link.addr_info ?? []).some((info) => overlaps(cidr(info.local, info.prefixlen), block)),
    )
    .map((link) => link.ifname)
}
