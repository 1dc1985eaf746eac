/**
 * Peers through the ORMs and query builders people use, each as its documentation shows: Sequelize
 * `findOrCreate` and `findCreateFind`, Knex `insert().onConflict().ignore()` then a select, MikroORM `upsert`
 * with `onConflictAction: 'ignore'`. All on a table with a unique index on the key, which they rely on.
 */
import { EntitySchema, MikroORM } from '@mikro-orm/postgresql'
import knex from 'knex'
import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  type Model,
  Sequelize,
} from 'sequelize'
import type { TagRow } from '../../tags.js'
import type { OpenSystem, System, SystemContext } from '../system.js'

interface TagModel extends Model<InferAttributes<TagModel>, InferCreationAttributes<TagModel>> {
  id: CreationOptional<number>
  slug: string
  label: string | null
}

function sequelizeModel(ctx: SystemContext) {
  const sequelize = new Sequelize(ctx.databaseUrl, {
    logging: false,
    // findOrCreate re-reads after a unique violation on a second connection (`transaction: null`) while its
    // own transaction still holds one: with as many racing callers as connections, the pool deadlocks until
    // the acquire timeout (Sequelize's default: 60 s). 2 s lets a run finish and shows it as errors.
    pool: { max: ctx.pool, min: 0, acquire: 2_000 },
  })
  const Tag = sequelize.define<TagModel>(
    'Tag',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      slug: { type: DataTypes.TEXT, allowNull: false },
      label: { type: DataTypes.TEXT },
    },
    { tableName: ctx.table, timestamps: false },
  )
  return { sequelize, Tag }
}

/** A Sequelize 6 system calling `Model[method]({ where, defaults })`, which answers `[row, created]`. */
function sequelizeSystem(id: string, name: string, method: 'findOrCreate' | 'findCreateFind'): System {
  return {
    id,
    name,
    kind: 'peer',
    table: 'unique',
    reportsCreated: true,
    async setup(ctx): Promise<OpenSystem> {
      const { sequelize, Tag } = sequelizeModel(ctx)
      return {
        async call(slug) {
          const [row, created] = await Tag[method]({ where: { slug }, defaults: { slug, label: slug } })
          return { id: row.id, created }
        },
        teardown: () => sequelize.close(),
      }
    },
  }
}

/** Sequelize 6 `Model.findOrCreate({ where, defaults })`: its own transaction, find, create, re-find. */
export const sequelizeFindOrCreate = sequelizeSystem(
  'sequelize-findorcreate',
  'Sequelize findOrCreate',
  'findOrCreate',
)

/** Sequelize 6 `Model.findCreateFind({ where, defaults })`: find, create, on a unique violation find again. */
export const sequelizeFindCreateFind = sequelizeSystem(
  'sequelize-findcreatefind',
  'Sequelize findCreateFind',
  'findCreateFind',
)

/** Knex 3: `insert(…).onConflict('slug').ignore().returning('*')`; no row back: `where({ slug }).first()`. */
export const knexInsertIgnore: System = {
  id: 'knex',
  name: 'Knex onConflict().ignore() + select',
  kind: 'peer',
  table: 'unique',
  reportsCreated: true,
  async setup(ctx): Promise<OpenSystem> {
    const db = knex({ client: 'pg', connection: ctx.databaseUrl, pool: { min: 0, max: ctx.pool } })
    return {
      async call(slug) {
        const [inserted] = await db<TagRow>(ctx.table)
          .insert({ slug, label: slug })
          .onConflict('slug')
          .ignore()
          .returning('*')
        if (inserted) return { id: inserted.id, created: true }
        const found = await db<TagRow>(ctx.table).where({ slug }).first()
        if (!found) throw new Error(`knex: no row for ${slug} after a conflicting insert`)
        return { id: found.id, created: false }
      },
      teardown: () => db.destroy(),
    }
  },
}

/**
 * MikroORM 6 `em.upsert(entity, data, { onConflictAction: 'ignore' })` on an `EntitySchema` (no decorators):
 * `INSERT … ON CONFLICT DO NOTHING`, then a SELECT. It returns the entity only: there is no `created` flag.
 */
export const mikroOrmUpsert: System = {
  id: 'mikro-orm',
  name: "MikroORM upsert (onConflictAction 'ignore')",
  kind: 'peer',
  table: 'unique',
  reportsCreated: false,
  async setup(ctx): Promise<OpenSystem> {
    const schema = new EntitySchema<TagRow>({
      name: 'Tag',
      tableName: ctx.table,
      properties: {
        id: { type: 'number', primary: true, autoincrement: true },
        slug: { type: 'string', unique: true },
        label: { type: 'string', nullable: true },
      },
    })
    const orm = await MikroORM.init({
      clientUrl: ctx.databaseUrl,
      entities: [schema],
      pool: { min: 0, max: ctx.pool },
      metadataCache: { enabled: false },
      debug: false,
    })
    return {
      async call(slug) {
        const row = await orm.em
          .fork()
          .upsert<TagRow>(
            'Tag',
            { slug, label: slug },
            { onConflictAction: 'ignore', onConflictFields: ['slug'] },
          )
        return { id: row.id, created: false }
      },
      teardown: () => orm.close(true),
    }
  },
}
