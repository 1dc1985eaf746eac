/**
 * The repository's patch of postgres.js 3.4.9 (`patches/postgres@3.4.9.patch`, applied by pnpm): without it,
 * backends terminated under load (`pg_terminate_backend`), with the client process paused meanwhile (SIGSTOP,
 * as a GC pause or a stopped VM does), leave postgres.js with queries that never settle and connections that
 * never reconnect (each reconnect times out, CONNECT_TIMEOUT, again and again). `pnpm stress` injects both
 * faults; this is the driver's part of it, on its own.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { scratchName } from '@getorcreate/test-support'
import postgres from 'postgres'
import { afterAll, expect, test } from 'vitest'

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test'
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
const workers: ChildProcess[] = []

afterAll(async () => {
  for (const worker of workers) worker.kill('SIGKILL')
  await admin.end({ timeout: 5 })
})

interface Report {
  readonly done: number
  readonly oldestMs: number
  readonly errors: Record<string, number>
}

test('postgres.js, backends terminated under load while the process is paused: every query settles, every connection comes back', async () => {
  const name = scratchName('pgjs')
  const script = fileURLToPath(new URL('./workers/postgres-js-load.ts', import.meta.url))
  const worker = spawn(
    process.execPath,
    ['--conditions=@getorcreate/source', '--import', 'tsx', script, name],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATABASE_URL: databaseUrl },
    },
  )
  workers.push(worker)
  const reports: Report[] = []
  createInterface({ input: worker.stdout! }).on('line', (line) => reports.push(JSON.parse(line) as Report))
  const backends = async () =>
    (await admin`select count(*)::int as n from pg_stat_activity where application_name = ${name}`)[0]!
      .n as number
  const terminate = async () =>
    (
      await admin`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = ${name}`
    )[0]!.n as number
  while (reports.length < 2) await delay(100)
  expect(await backends()).toBe(8)
  for (let round = 0; round < 3; round++) {
    expect(await terminate()).toBeGreaterThan(0)
    await delay(100 + round * 300)
    worker.kill('SIGSTOP')
    await delay(3_000)
    worker.kill('SIGCONT')
    await delay(3_000)
  }
  // Every call started before the faults has settled long since; the pool is whole again and still serves.
  await delay(12_000)
  const last = reports.at(-1)!
  const before = reports.at(-4)!
  expect(last.oldestMs, JSON.stringify(last)).toBeLessThan(5_000)
  expect(last.done - before.done).toBeGreaterThan(100)
  expect(await backends()).toBe(8)
  // The faults did reach the driver: its queries failed with the terminated connections' errors.
  expect(Object.keys(last.errors).length).toBeGreaterThan(0)
  expect(last.errors.CONNECT_TIMEOUT ?? 0).toBe(0)
  worker.kill('SIGKILL')
  await once(worker, 'exit')
}, 60_000)
