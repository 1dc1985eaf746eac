/**
 * `pnpm stress` and its workers' network: as root, each worker process runs in a network namespace the run
 * made (its pid is the one process in it), reaches Postgres, MariaDB and the Redis nodes only through its own
 * link (the forwarder took their connections from the namespace's address), one worker's link is cut for a
 * while, the run passes, and nothing of its network is left after; `--no-netns` runs plain processes. Where
 * namespaces are not allowed, the run says why and runs plain processes, never skipping.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { expect, test } from 'vitest'
import { links, namespaces } from './support/netns.js'
import { runStressCli } from './support/stress-cli.js'

const root = process.getuid?.() === 0
const SHORT = ['--procs', '2', '--seconds', '16', '--concurrency', '16']

interface Report {
  network: string
  connections: { from: string[]; perService: Record<string, number> }[]
  plan: string[]
  faults: { kind: string; affects: string[]; detail: string }[]
  verdict: { ok: boolean; counts: Record<string, number>; violations: string[] }
}

/** The run's namespaces (their names end with the pid of the process that made them). */
const namespacesOf = (pid: number) => namespaces().filter((name) => name.endsWith(`-${pid}`))
/** A process's parent pid (field 4 of /proc/<pid>/stat, after the command's parenthesis). */
function parentOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
  } catch {
    return Number.NaN // it has exited since it was listed
  }
}
/**
 * Per namespace: the processes started into it (those whose parent is outside it; a worker's own children,
 * such as tsx's esbuild service on a cold transform cache, are not counted), and the first's command line.
 */
function processesIn(name: string): { pids: number[]; command: string } {
  const all = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number)
  const pids = all.filter((pid) => !all.includes(parentOf(pid)))
  const command = pids[0] ? readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').replaceAll('\0', ' ') : ''
  return { pids, command }
}

test('as root each worker runs in a namespace of its own, reached through its link, one link is cut, and the run passes', async () => {
  const ourLinks = () => links().filter((name) => name.startsWith('goc'))
  const linksBefore = ourLinks()
  let pid = -1
  let seen: { pids: number[]; command: string }[] | undefined
  const run = await runStressCli(SHORT, (line, runPid) => {
    pid = runPid
    // The first progress line comes a second after `go`: every worker runs.
    if (seen === undefined && /calls, \d+ s left$/.test(line)) seen = namespacesOf(runPid).map(processesIn)
  })
  console.log(run.output)
  expect(run.code, run.output).toBe(0)
  expect(run.output).toMatch(/^PASS: /m)
  const report = run.report as unknown as Report
  expect(report.verdict.violations).toEqual([])
  if (root) {
    expect(run.output).toMatch(/^Workers: one network namespace per worker/m)
    expect(report.network).toMatch(/^one network namespace per worker/)
    // Two namespaces while the workers ran, one worker process started into each.
    expect(seen).toHaveLength(2)
    for (const inside of seen ?? []) {
      expect(inside.pids).toHaveLength(1)
      expect(inside.command).toMatch(/stress\/worker\.ts/)
    }
    // Each worker's connections came from one address of its own: its end of its veth's /30 (`.2` of 4).
    const from = report.connections.map((worker) => worker.from)
    expect(from.every((addresses) => addresses.length === 1)).toBe(true)
    expect(new Set(from.flat()).size).toBe(2)
    for (const address of from.flat()) {
      expect(address).toMatch(/^(10|100)\.\d+\.\d+\.\d+$/)
      expect(Number(address.split('.')[3]) % 4).toBe(2)
    }
    for (const worker of report.connections) {
      expect(worker.perService.postgres).toBeGreaterThan(0)
      expect(worker.perService.mariadb).toBeGreaterThan(0)
      expect(Object.keys(worker.perService).filter((name) => name.startsWith('redis ')).length).toBe(5)
    }
    expect(report.plan.some((line) => / link-cut on worker [01] for 1500 ms$/.test(line))).toBe(true)
    const cut = report.faults.find((fault) => fault.kind === 'link-cut')
    expect(cut?.detail).toMatch(/^link of worker [01] down for 1500 ms$/)
    const target = /worker (\d)/.exec(cut?.detail ?? '')?.[1]
    expect(cut?.affects).toEqual(['pg', 'mysql', 'redis'].map((service) => `worker:${target}:${service}`))
  } else {
    expect(report.network).toMatch(/^plain processes \(not root/)
    expect(report.plan.some((line) => line.includes('link-cut'))).toBe(false)
  }
  // Nothing of the run's network is left.
  expect(namespacesOf(pid)).toEqual([])
  expect(ourLinks()).toEqual(linksBefore)
}, 180_000)

test('--no-netns: plain worker processes, no link to cut, and the run passes', async () => {
  const run = await runStressCli([...SHORT, '--no-netns'])
  console.log(run.output)
  expect(run.code, run.output).toBe(0)
  expect(run.output).toMatch(/^PASS: /m)
  expect(run.output).toMatch(/^Workers: plain processes \(--no-netns\)\.$/m)
  const report = run.report as unknown as Report
  expect(report.network).toBe('plain processes (--no-netns)')
  expect(report.connections).toEqual([
    { from: [], perService: {} },
    { from: [], perService: {} },
  ])
  expect(report.plan.some((line) => line.includes('link-cut'))).toBe(false)
}, 180_000)
