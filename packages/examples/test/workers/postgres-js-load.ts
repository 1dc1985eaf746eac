/**
 * A worker for `postgres-js-patch.test.ts`: 48 loops of one-statement queries through one postgres.js pool of 8
 * connections, tagged with the application name in argv[2], with the stress run's bounded reconnect backoff.
 * Every second it prints one JSON line: calls done, errors per code, and the age of the oldest call still in
 * flight.
 */
import postgres from 'postgres'
import { boundedBackoff } from '../../src/stress/stores.js'

const applicationName = process.argv[2] ?? 'getorcreate_pgjs_load'
const sql = postgres(process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test', {
  max: 8,
  fetch_types: false,
  connect_timeout: 10,
  backoff: boundedBackoff, // as `pnpm stress` bounds it: its default grows to 20 s after a terminate wave
  connection: { application_name: applicationName },
  onnotice: () => {},
})
const started = new Map<number, number>()
const errors: Record<string, number> = {}
let next = 0
let done = 0

async function loop(): Promise<void> {
  for (;;) {
    const call = next++
    started.set(call, performance.now())
    try {
      await sql`select pg_sleep(0.001), ${call}::int as call`
    } catch (error) {
      const code = String((error as { code?: unknown }).code ?? (error as Error).message)
      errors[code] = (errors[code] ?? 0) + 1
    }
    started.delete(call)
    done++
  }
}

for (let index = 0; index < 48; index++) void loop()
setInterval(() => {
  const now = performance.now()
  const oldestMs = Math.round(Math.max(0, ...[...started.values()].map((start) => now - start)))
  process.stdout.write(`${JSON.stringify({ done, oldestMs, errors })}\n`)
}, 1_000)
