/**
 * A `--procs` child: runs the turns its parent sends, one at a time, and reports each result as JSON over
 * the IPC channel. It exits when the parent says so or goes away.
 */
import { type PreparedTurn, prepareTurn, TooManyConnectionsError } from './turn.js'
import type { ParentMessage, WorkerMessage } from './worker-protocol.js'

let prepared: PreparedTurn | undefined

function send(message: WorkerMessage): void {
  process.send?.(message)
}

async function handle(message: ParentMessage): Promise<void> {
  switch (message.type) {
    case 'prepare':
      try {
        prepared = await prepareTurn(message.turn)
        send({ type: 'prepared' })
      } catch (error) {
        send({
          type: 'failed',
          message: error instanceof Error ? error.message : String(error),
          tooManyConnections: error instanceof TooManyConnectionsError,
        })
      }
      return
    case 'run': {
      const turn = prepared
      prepared = undefined
      if (!turn) return send({ type: 'failed', message: 'run before prepare', tooManyConnections: false })
      try {
        send({ type: 'result', result: await turn.run() })
      } catch (error) {
        send({
          type: 'failed',
          message: error instanceof Error ? error.message : String(error),
          tooManyConnections: false,
        })
      }
      return
    }
    case 'abort':
      await prepared?.abort().catch(() => {})
      prepared = undefined
      return send({ type: 'aborted' })
    case 'exit':
      await prepared?.abort().catch(() => {})
      process.disconnect?.()
      return
  }
}

process.on('message', (message: ParentMessage) => void handle(message))
process.on('disconnect', () => {
  void (prepared?.abort() ?? Promise.resolve()).finally(() => process.exit(0))
})
// Ctrl-C reaches the whole process group: the parent decides when this child stops.
process.on('SIGINT', () => {})
send({ type: 'ready' })
