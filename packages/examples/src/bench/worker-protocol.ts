/**
 * Messages between the bench and its child processes (JSON over the IPC channel). A child holds several
 * prepared turns at once (a group's), each known by the id the parent gave it.
 */
import type { TurnResult, TurnSpec } from './turn.js'

/** Parent → child. */
export type ParentMessage =
  | { readonly type: 'prepare'; readonly id: number; readonly turn: TurnSpec }
  | { readonly type: 'slice'; readonly id: number }
  | { readonly type: 'finish'; readonly id: number }
  | { readonly type: 'abort'; readonly id: number }
  | { readonly type: 'exit' }

/** Child → parent. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'prepared' }
  | { readonly type: 'sliced'; readonly done: boolean }
  | { readonly type: 'aborted' }
  | { readonly type: 'result'; readonly result: TurnResult }
  | { readonly type: 'failed'; readonly message: string; readonly tooManyConnections: boolean }
