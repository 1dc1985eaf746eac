/** The demo's table: one row per approach, what its load left behind, as aligned text. */
import type { LoadSummary } from '../load.js'

/** One row of the demo's table. */
export interface DemoRow extends LoadSummary {
  readonly approach: string
  /** True for our strategies: any duplicate, extra created flag or split id is a failure. */
  readonly mustBeExact: boolean
}

/** The table as aligned text lines. */
export function formatTable(rows: readonly DemoRow[]): string[] {
  const header = ['approach', 'calls', 'rows', 'duplicate rows', 'created:true', 'split ids', 'errors', 'ms']
  const body = rows.map((row) => [
    row.approach,
    String(row.calls),
    String(row.rows),
    String(row.duplicateRows),
    `${row.createdFlags} (of ${row.keys} keys)`,
    String(row.keysWithSeveralIds),
    String(row.errors),
    String(Math.round(row.ms)),
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)))
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)]
}

/** True when a row that must be exact is not: a duplicate, an extra or missing created flag, a split id, an error. */
export function isWrong(row: DemoRow): boolean {
  return (
    row.duplicateRows > 0 || row.createdFlags !== row.keys || row.keysWithSeveralIds > 0 || row.errors > 0
  )
}
