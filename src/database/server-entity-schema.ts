import { ColumnType, EntitySchema, EntitySchemaColumnOptions, getMetadataArgsStorage } from 'typeorm';
import { ServerDatabaseType } from '../config/database.config';

type MetadataArgsStorage = ReturnType<typeof getMetadataArgsStorage>;
type ColumnArgs = ReturnType<MetadataArgsStorage['filterColumns']>[number];

/** The longest string a `varchar` key column holds on a server database when the entity gives no length. */
export const SERVER_VARCHAR_LENGTH = 255;

/**
 * How a server engine stores the entity's portable column types.
 *
 * The decorated entities are written for SQLite, the default engine: `datetime` and TypeORM's date-mode
 * columns, `varchar` without a length. PostgreSQL has no `datetime` (TypeORM rejects the entity),
 * and its `@UpdateDateColumn` default would be `timestamp` without a time zone. So:
 * - PostgreSQL: every time is `timestamptz`; `varchar` is `varchar(255)`.
 * - MariaDB/MySQL: every time is `datetime(3)` (milliseconds, like a JS `Date`; the connection
 *   reads and writes it as UTC); a date-mode column defaults to `CURRENT_TIMESTAMP(3)`.
 * `uuid`, `text` and the rest keep TypeORM's own mapping for the engine.
 */
const SERVER_TYPE_OVERRIDES: Readonly<
  Record<ServerDatabaseType, (column: ColumnArgs) => Partial<EntitySchemaColumnOptions>>
> = {
  postgres: (column) => ({
    ...(isTimeColumn(column) && { type: 'timestamptz' }),
    ...(isUnsizedVarchar(column) && { length: SERVER_VARCHAR_LENGTH }),
  }),
  mysql: (column) => ({
    ...(isTimeColumn(column) && { type: 'datetime', precision: 3 }),
    ...((column.mode === 'createDate' || column.mode === 'updateDate') && { default: () => 'CURRENT_TIMESTAMP(3)' }),
    ...(column.mode === 'updateDate' && { onUpdate: 'CURRENT_TIMESTAMP(3)' }),
    ...(isUnsizedVarchar(column) && { length: SERVER_VARCHAR_LENGTH }),
  }),
};

/**
 * The `EntitySchema` that maps a decorated entity class onto a server database.
 *
 * It is derived from the class's own decorators (table, columns, generated columns, uniques,
 * indices), so the class stays the one source of truth, with only the column types adapted per
 * engine (see {@link SERVER_TYPE_OVERRIDES}). Its `target` is the class itself: `DataSource`
 * finds metadata by target, so `getRepository(Entity)`, `@InjectRepository(Entity)` and
 * `instanceof Entity` work exactly as with the decorated class. Register the schema *instead of*
 * the class in a server `DataSource`'s `entities`.
 *
 * @throws Error for an entity that uses what this derivation does not carry over (relations,
 *   embedded columns, checks, exclusions, entity listeners, inheritance), rather than silently
 *   dropping it.
 */
export function serverEntitySchema<T>(entity: new () => T, type: ServerDatabaseType): EntitySchema<T> {
  const storage = getMetadataArgsStorage();
  const table = storage.filterTables(entity).find((t) => t.target === entity);
  if (!table) {
    throw new Error(`${entity.name} is not a TypeORM @Entity`);
  }
  const unsupported = [
    ['relations', storage.filterRelations(entity).length],
    ['embedded columns', storage.filterEmbeddeds(entity).length],
    ['checks', storage.filterChecks(entity).length],
    ['exclusions', storage.filterExclusions(entity).length],
    ['entity listeners', storage.filterListeners(entity).length],
    ['inheritance', Object.getPrototypeOf(entity) === Function.prototype ? 0 : 1],
  ].filter(([, count]) => count !== 0);
  if (unsupported.length > 0) {
    throw new Error(
      `serverEntitySchema cannot carry over the ${unsupported.map(([what]) => what).join(', ')} of ${entity.name}; extend it first`,
    );
  }

  const overrides = SERVER_TYPE_OVERRIDES[type];
  const columns: Record<string, EntitySchemaColumnOptions> = {};
  for (const column of storage.filterColumns(entity)) {
    const {
      type: declaredType,
      name,
      length,
      nullable,
      update,
      select,
      insert,
      primary,
      unique,
      comment,
      onUpdate,
    } = column.options;
    const defaultValue: unknown = column.options.default;
    const {
      precision,
      scale,
      unsigned,
      charset,
      collation,
      enum: enumValues,
      enumName,
      asExpression,
      generatedType,
      array,
      transformer,
    } = column.options;
    const options: Omit<EntitySchemaColumnOptions, 'type'> & { type?: ColumnType } = {
      type: declaredType,
      ...{ name, length, nullable, update, select, insert, primary, unique, comment, default: defaultValue, onUpdate },
      ...{
        precision: precision ?? undefined,
        scale,
        unsigned,
        charset,
        collation,
        enum: enumValues,
        enumName,
        asExpression,
        generatedType,
        array,
        transformer,
      },
      generated: storage.findGenerated(entity, column.propertyName)?.strategy,
      createDate: column.mode === 'createDate',
      updateDate: column.mode === 'updateDate',
      deleteDate: column.mode === 'deleteDate',
      version: column.mode === 'version',
      ...overrides(column),
    };
    if (options.type === undefined) {
      throw new Error(`${entity.name}.${column.propertyName} needs an explicit column type for ${type}`);
    }
    columns[column.propertyName] = { ...options, type: options.type };
  }

  return new EntitySchema<T>({
    name: entity.name,
    target: entity,
    tableName: table.name,
    schema: table.schema,
    database: table.database,
    synchronize: table.synchronize,
    columns,
    uniques: storage
      .filterUniques(entity)
      .map(({ name, columns: uniqueColumns, deferrable }) => ({ name, columns: uniqueColumns, deferrable })),
    indices: storage.filterIndices(entity).map(({ target: _target, ...index }) => index),
  });
}

function isTimeColumn(column: ColumnArgs): boolean {
  return (
    column.mode === 'createDate' ||
    column.mode === 'updateDate' ||
    column.mode === 'deleteDate' ||
    column.options.type === 'datetime' ||
    column.options.type === Date
  );
}

function isUnsizedVarchar(column: ColumnArgs): boolean {
  return (column.options.type === 'varchar' || column.options.type === String) && column.options.length === undefined;
}
