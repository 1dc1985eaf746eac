/**
 * A TypeDoc plugin (`typedoc.json`: `plugin`): inline code in Markdown headings is rendered as plain text.
 *
 * TypeDoc 0.28 builds a heading's anchor and its "On This Page" entry from the heading's text without its
 * inline code, so "### `LOCK_LOST` (`LockLostError`, retryable)" became "(, retryable)" with the anchor
 * `#-retryable`. Without the backticks the entry reads "LOCK_LOST (LockLostError, retryable)" and the anchor is
 * the one GitHub gives the same heading (`#lock_lost-locklosterror-retryable`), so the READMEs' own links work
 * in both places. Only headings change; fenced code blocks are left alone.
 */
import { MarkdownEvent } from 'typedoc'

/** Called by TypeDoc with its application. */
export function load(app) {
  app.renderer.on(
    MarkdownEvent.PARSE,
    (event) => {
      let fence = null
      event.parsedText = event.parsedText
        .split('\n')
        .map((line) => {
          const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1]
          if (marker && (fence === null || marker.startsWith(fence))) {
            fence = fence === null ? marker : null
            return line
          }
          return fence === null && /^\s{0,3}#{1,6}\s/.test(line) ? line.replaceAll('`', '') : line
        })
        .join('\n')
    },
    // Before TypeDoc's own listener (priority 0), which turns the Markdown into HTML.
    100,
  )
}
