/**
 * Another run, for netns.test.ts: sets up a network (argv: tag, workers, comma-separated ports), prints it as
 * one JSON line, and, when it is available, holds it until the process is killed (SIGKILL: a crash whose
 * leftovers the next start removes; SIGTERM: the exit hook removes them). An unavailable network is printed
 * and the process ends.
 */
import { setUpNetwork } from '../../src/stress/netns.js'

const [tag = '', workers = '1', ports = ''] = process.argv.slice(2)
const network = await setUpNetwork({
  tag,
  workers: Number(workers),
  services: ports.split(',').map((port) => ({ name: `port ${port}`, port: Number(port) })),
})
const { available, reason } = network
process.stdout.write(`${JSON.stringify({ available, reason, workers: network.workers })}\n`)
if (available) setInterval(() => undefined, 60_000)
