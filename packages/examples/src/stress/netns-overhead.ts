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

/** What one turn measured: round trips per second, and CPU µs per round trip of the client and the forwarder. */
interface Turn {
  readonly perSecond: number
  readonly clientCpu: number
  forwarderCpu?: number
}

/** The worker side: `select 1` with `inFlight` at once for `ms`, after one round to open every connection. */
async function measure(url: string, inFlight: number, ms: number): Promise<Turn> {
  const sql = postgres(url, { max: inFlight })
  await Promise.all(Array.from({ length: inFlight }, () => sql`select 1`))
  let done = 0
  const until = Date.now() + ms
  const started = performance.now()
  const cpu = process.cpuUsage()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        await sql`select 1`
        done++
      }
    }),
  )
  const perSecond = done / ((performance.now() - started) / 1000)
  const used = process.cpuUsage(cpu)
  await sql.end()
  return { perSecond, clientCpu: (used.user + used.system) / done }
}

/**
 * One turn in a process of its own, started with `prefix` (in the namespace) or without (in the root one).
 * The forwarder runs in this process, which does nothing else meanwhile: its CPU time over the turn, per
 * round trip, is the forwarder's cost, a figure the machine's load hardly moves (unlike the rates).
 */
function turn(prefix: readonly string[], url: string, inFlight: number, ms: number): Promise<Turn> {
  const file = fileURLToPath(import.meta.url)
  const [command, ...args] = [
    ...prefix,
    process.execPath,
    ...WORKER_NODE_FLAGS,
    file,
    '--worker',
    url,
    String(inFlight),
    String(ms),
  ]
  const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const cpu = process.cpuUsage()
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`turn exited with ${code}`))
      const result = JSON.parse(out) as Turn
      const used = process.cpuUsage(cpu)
      result.forwarderCpu = (used.user + used.system) / ((result.perSecond * ms) / 1000)
      resolve(result)
    })
  })
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN
const pad = (value: number | undefined, width: number, digits = 0) =>
  (value ?? Number.NaN).toFixed(digits).padStart(width)

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
    const costs = new Map<number, number[]>(LOADS.map((load) => [load, []]))
    console.log(
      'round  in flight  direct/s  through/s  ratio  client µs/query direct  through  forwarder µs/query',
    )
    for (let round = 1; round <= rounds; round++) {
      for (const load of LOADS) {
        // Alternate which goes first, so that neither always gets the warmer machine.
        const order = round % 2 === 0 ? (['ns', 'direct'] as const) : (['direct', 'ns'] as const)
        const turns: Partial<Record<'ns' | 'direct', Turn>> = {}
        for (const side of order) {
          turns[side] =
            side === 'ns'
              ? await turn(worker.prefix, through, load, ms)
              : await turn([], direct.href, load, ms)
        }
        const { ns, direct: straight } = turns
        const ratio = (ns?.perSecond ?? 0) / (straight?.perSecond ?? 1)
        ratios.get(load)?.push(ratio)
        costs.get(load)?.push(ns?.forwarderCpu ?? Number.NaN)
        console.log(
          `${pad(round, 5)}  ${pad(load, 9)}  ${pad(straight?.perSecond, 8)}  ${pad(ns?.perSecond, 9)}  ${pad(ratio, 5, 2)}  ${pad(straight?.clientCpu, 21)}  ${pad(ns?.clientCpu, 7)}  ${pad(ns?.forwarderCpu, 18)}`,
        )
      }
    }
    for (const load of LOADS) {
      console.log(
        `${load} in flight, median of ${rounds}: through / direct ${median(ratios.get(load) ?? []).toFixed(2)}, forwarder ${median(costs.get(load) ?? []).toFixed(0)} µs CPU per round trip`,
      )
    }
  } finally {
    await network.teardown()
  }
}

if (process.argv[2] === '--worker') {
  const [url = '', inFlight = '1', ms = '1000'] = process.argv.slice(3)
  process.stdout.write(`${JSON.stringify(await measure(url, Number(inFlight), Number(ms)))}\n`)
} else {
  await main()
}
