import type { Table } from 'drizzle-orm'
import type { Store } from '../../types.js'

/**
 * What each dialect's store returns: a {@link Store} typed by the table's select and insert models.
 * `drizzleStore` adds the table's name for the compiler (`DrizzleStore`, a type-level tag only), so that the
 * dialect folders need nothing from the file that dispatches to them.
 */
export type TableStore<T extends Table> = Store<
  T['$inferSelect'],
  Partial<T['$inferSelect']>,
  T['$inferInsert']
>
