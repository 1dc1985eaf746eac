/**
 * A bench child process (a system's own, or one all systems share): prepares the turns its parent sends (several
 * at once: a group's), runs their slices when told, and reports each answer as JSON over the IPC channel. It
 * exits when the parent says so or goes away.
 */
import { type PreparedTurn, prepareTurn, TooManyConnectionsError } from './turn.js'
import type { ParentMessage, WorkerMessage } from './worker-protocol.js'

const prepared = new Map<number, PreparedTurn>()

function send(message: WorkerMessage): void {
  process.send?.(message)
}

function failed(error: unknown, tooManyConnections = false): WorkerMessage {
  return {
    type: 'failed',
    message: error instanceof Error ? error.message : String(error),
    tooManyConnections,
  }
}

async function abortAll(): Promise<void> {
  const turns = [...prepared.values()]
  prepared.clear()
  await Promise.all(turns.map((turn) => turn.abort().catch(() => {})))
}

async function handle(message: ParentMessage): Promise<void> {
  switch (message.type) {
    case 'prepare':
      try {
        prepared.set(message.id, await prepareTurn(message.turn))
        send({ type: 'prepared' })
      } catch (error) {
        send(failed(error, error instanceof TooManyConnectionsError))
      }
      return
    case 'slice': {
      const turn = prepared.get(message.id)
      if (!turn) return send(failed(`slice of turn ${message.id}, which is not prepared`))
      try {
        send({ type: 'sliced', done: await turn.slice() })
      } catch (error) {
        send(failed(error))
      }
      return
    }
    case 'finish': {
      const turn = prepared.get(message.id)
      prepared.delete(message.id)
      if (!turn) return send(failed(`finish of turn ${message.id}, which is not prepared`))
      try {
        send({ type: 'result', result: await turn.finish() })
      } catch (error) {
        send(failed(error))
      }
      return
    }
    case 'abort':
      await prepared
        .get(message.id)
        ?.abort()
        .catch(() => {})
      prepared.delete(message.id)
      return send({ type: 'aborted' })
    case 'exit':
      await abortAll()
      process.disconnect?.()
      return
  }
}

process.on('message', (message: ParentMessage) => void handle(message))
process.on('disconnect', () => {
  void abortAll().finally(() => process.exit(0))
})
// Ctrl-C reaches the whole process group: the parent decides when this child stops.
process.on('SIGINT', () => {})
send({ type: 'ready' })
