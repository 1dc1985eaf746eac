/** Messages between the bench and its `--procs` children (JSON over the IPC channel). */
import type { TurnResult, TurnSpec } from './turn.js'

/** Parent → child. */
export type ParentMessage =
  | { readonly type: 'prepare'; readonly turn: TurnSpec }
  | { readonly type: 'run' }
  | { readonly type: 'abort' }
  | { readonly type: 'exit' }

/** Child → parent. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'prepared' }
  | { readonly type: 'aborted' }
  | { readonly type: 'result'; readonly result: TurnResult }
  | { readonly type: 'failed'; readonly message: string; readonly tooManyConnections: boolean }
