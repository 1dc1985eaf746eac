/**
 * What the namespace and the forwarder cost a worker: round trips per second to Postgres (`select 1`,
 * postgres.js, 1 and 16 queries in flight) from a process in the root namespace straight to 127.0.0.1, and
 * from a process in a worker's namespace through its veth and the forwarder, in turns within one run; prints
 * each turn and the median ratio per load. Needs root (it says why otherwise and exits 1).
 *
 * `node --conditions=@getorcreate/source --import tsx src/stress/netns-overhead.ts [--rounds 5] [--seconds 3]`
 * (in packages/examples; DATABASE_URL, else postgres://root@127.0.0.1:5432/test).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { WORKER_NODE_FLAGS } from '@getorcreate/test-support'
import postgres from 'postgres'
import { setUpNetwork } from './netns.js'

const LOADS = [1, 16] as const

/** The worker side: `select 1` with `inFlight` at once for `ms`, after one round to open every connection. */
async function measure(url: string, inFlight: number, ms: number): Promise<number> {
  const sql = postgres(url, { max: inFlight })
  await Promise.all(Array.from({ length: inFlight }, () => sql`select 1`))
  let done = 0
  const until = Date.now() + ms
  const started = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        await sql`select 1`
        done++
      }
    }),
  )
  const perSecond = done / ((performance.now() - started) / 1000)
  await sql.end()
  return perSecond
}

/** One turn in a process of its own, started with `prefix` (in the namespace) or without (in the root one). */
function turn(prefix: readonly string[], url: string, inFlight: number, ms: number): Promise<number> {
  const [command, ...args] = [
    ...prefix,
    process.execPath,
    ...WORKER_NODE_FLAGS,
    fileURLToPath(import.meta.url),
    '--worker',
    url,
    String(inFlight),
    String(ms),
  ]
  const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`turn exited with ${code}`)),
    )
  })
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '3' } },
  })
  const rounds = Number(values.rounds)
  const ms = Number(values.seconds) * 1000
  const direct = new URL(process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test')
  const network = await setUpNetwork({
    workers: 1,
    services: [{ name: 'postgres', port: Number(direct.port || 5432) }],
    tag: randomBytes(4).toString('hex'),
  })
  try {
    const worker = network.workers[0]
    if (!network.available || !worker) throw new Error(`no namespaces on this machine: ${network.reason}`)
    const through = Object.assign(new URL(direct), { hostname: worker.host }).href
    const ratios = new Map<number, number[]>(LOADS.map((load) => [load, []]))
    console.log('round  in flight  direct/s  namespace+forwarder/s  ratio')
    for (let round = 1; round <= rounds; round++) {
      for (const load of LOADS) {
        // Alternate which goes first, so that neither always gets the warmer machine.
        const order = round % 2 === 0 ? (['ns', 'direct'] as const) : (['direct', 'ns'] as const)
        const rates: Record<string, number> = {}
        for (const side of order) {
          rates[side] =
            side === 'ns'
              ? await turn(worker.prefix, through, load, ms)
              : await turn([], direct.href, load, ms)
        }
        const ratio = (rates.ns ?? 0) / (rates.direct ?? 1)
        ratios.get(load)?.push(ratio)
        console.log(
          `${String(round).padStart(5)}  ${String(load).padStart(9)}  ${rates.direct?.toFixed(0).padStart(8)}  ${rates.ns?.toFixed(0).padStart(21)}  ${ratio.toFixed(3)}`,
        )
      }
    }
    for (const load of LOADS) {
      console.log(
        `${load} in flight: namespace+forwarder / direct, median of ${rounds}: ${median(ratios.get(load) ?? []).toFixed(3)}`,
      )
    }
  } finally {
    await network.teardown()
  }
}

if (process.argv[2] === '--worker') {
  const [url = '', inFlight = '1', ms = '1000'] = process.argv.slice(3)
  process.stdout.write(`${await measure(url, Number(inFlight), Number(ms))}\n`)
} else {
  await main()
}
