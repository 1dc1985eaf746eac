/**
 * The names a run gives what it creates, and the removal of what a crashed run left. Every name starts with
 * `NETNS_PREFIX` (`goc`) and carries the run's tag:
 *
 * - namespace of worker `i`: `goc<tag>-<i>-<pid>`, where `pid` is the process that made it; a namespace whose
 *   process is gone is a leftover;
 * - root side of worker `i`'s veth: `goc<tag>-<i>` (at most 15 characters, the kernel's limit); its other end
 *   is `eth0` inside the namespace, so every worker sees a machine with one network card.
 *
 * Deleting a namespace destroys the veth whose end is in it, unless a process still runs in it; so the root
 * sides are deleted by name too, which cuts such a process off for good.
 */
import { ipBatch, ipJson, NetnsError } from './netns-ip.js'

/** What every namespace and link of a stress run is named after ("getorcreate"). */
const NETNS_PREFIX = 'goc'

/** A tag: what tells one run's namespaces and links from another's. */
const TAG = /^[a-z0-9]{1,8}$/

/** The most workers a run can have: the index must fit the 15 characters of a link name. */
export const MAX_WORKERS = 1000

const NAMESPACE = new RegExp(`^${NETNS_PREFIX}([a-z0-9]{1,8})-(\\d{1,3})-(\\d+)$`)
const LINK = new RegExp(`^${NETNS_PREFIX}([a-z0-9]{1,8})-(\\d{1,3})$`)

/** The network card's name inside each worker's namespace. */
export const INSIDE_LINK = 'eth0'

/** Throws NETNS_INVALID_OPTIONS unless `tag` is 1 to 8 lower-case letters or digits. */
export function checkTag(tag: string): void {
  if (!TAG.test(tag)) {
    throw new NetnsError(
      'NETNS_INVALID_OPTIONS',
      `tag must be 1 to 8 lower-case letters or digits, got ${JSON.stringify(tag)}`,
    )
  }
}

/** The namespace of worker `index` of the run tagged `tag`, made by this process. */
export function namespaceName(tag: string, index: number): string {
  return `${NETNS_PREFIX}${tag}-${index}-${process.pid}`
}

/** The root side of worker `index`'s veth. */
export function linkName(tag: string, index: number): string {
  return `${NETNS_PREFIX}${tag}-${index}`
}

/** True while a process with this id runs (a zombie counts as gone: it holds no namespace open). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The namespaces and root-side links with the prefix now, links listed first (see {@link removeLeftovers}). */
async function listNamed(): Promise<{ namespaces: string[]; links: string[] }> {
  const links = (await ipJson<{ ifname: string }>(['link', 'show']))
    .map((link) => link.ifname)
    .filter((name) => LINK.test(name))
  const namespaces = (await ipJson<{ name: string }>(['netns', 'list']))
    .map((ns) => ns.name)
    .filter((name) => NAMESPACE.test(name))
  return { namespaces, links }
}

/** What the run tagged `tag` has right now (for the tests and for the check after teardown). */
export async function namedFor(tag: string): Promise<{ namespaces: string[]; links: string[] }> {
  const { namespaces, links } = await listNamed()
  return {
    namespaces: namespaces.filter((name) => NAMESPACE.exec(name)?.[1] === tag),
    links: links.filter((name) => LINK.exec(name)?.[1] === tag),
  }
}

/**
 * Removes the namespaces whose maker is no longer running and the root-side links of every tag that has no
 * namespace of a live process left; returns what it removed. Links are listed before namespaces: a run that
 * starts meanwhile creates its namespace before its link, so a link seen here belongs to a namespace that the
 * later listing already shows, and a live run's link is never taken for a leftover.
 */
export async function removeLeftovers(): Promise<string[]> {
  const { namespaces, links } = await listNamed()
  const dead = namespaces.filter((name) => !alive(Number(NAMESPACE.exec(name)?.[3])))
  const liveTags = new Set(
    namespaces.filter((name) => !dead.includes(name)).map((name) => NAMESPACE.exec(name)?.[1]),
  )
  const orphanLinks = links.filter((name) => !liveTags.has(LINK.exec(name)?.[1]))
  await ipBatch(
    [...orphanLinks.map((name) => `link del ${name}`), ...dead.map((name) => `netns del ${name}`)],
    { force: true },
  ).catch(
    () => undefined, // one already gone (another run cleaning at the same time) fails its line, not the others
  )
  return [...orphanLinks, ...dead]
}

/** Throws NETNS_TAG_IN_USE when a live process has namespaces with this tag (leftovers already removed). */
export async function checkTagFree(tag: string): Promise<void> {
  const { namespaces, links } = await namedFor(tag)
  if (namespaces.length > 0 || links.length > 0) {
    throw new NetnsError(
      'NETNS_TAG_IN_USE',
      `tag ${tag} is in use by a live run: ${[...namespaces, ...links].join(', ')}`,
    )
  }
}
