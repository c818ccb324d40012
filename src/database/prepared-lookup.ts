import { EntityNotFoundError, ObjectLiteral, Repository } from 'typeorm';

/** TypeORM's metadata of one column (the class is not exported from the package root). */
type ColumnMetadata = Repository<ObjectLiteral>['metadata']['columns'][number];

/**
 * `Repository.findOneBy` on a fixed set of key columns, with its SQL built once.
 *
 * `findOneBy` runs TypeORM's whole QueryBuilder on every call (find options, SQL text,
 * parameter escaping, the raw-results transformer), which costs several times the query itself
 * (`npm run bench`: `findOneBy` about 5-8x a raw prepared statement, the query through the same
 * query runner about 1.1x). Here the QueryBuilder writes the `SELECT ... WHERE key = ... LIMIT 1`
 * once, for whatever driver the connection has (its placeholders, `?` or `$1`, and its quoting),
 * and every call only binds the values in the order that SQL wants, sends it through the
 * repository's query runner, and hydrates the row with the driver's own conversions
 * (`prepareHydratedValue`, column transformers included).
 *
 * Only the SQL text is kept between calls, never a row: every call reads the database. It selects
 * the entity's own selectable columns; relations, eager joins and `@AfterLoad` listeners are not
 * supported (the entities it serves have none).
 */
export class PreparedLookup<Entity extends ObjectLiteral, Key extends keyof Entity & string> {
  private prepared?: { sql: string; order: Key[]; columns: ColumnMetadata[] };

  constructor(
    private readonly repository: Repository<Entity>,
    private readonly keys: readonly Key[],
  ) {}

  /** The one entity whose key columns equal `where`, or `null`. */
  async findOne(where: Pick<Entity, Key>): Promise<Entity | null> {
    const { sql, order, columns } = (this.prepared ??= this.prepare());
    const rows = await this.repository.query<ObjectLiteral[]>(
      sql,
      order.map((key) => where[key]),
    );
    const row = rows[0];
    return row === undefined ? null : this.hydrate(row, columns);
  }

  /**
   * Like {@link findOne}, for a row that must exist.
   *
   * @throws EntityNotFoundError (TypeORM's, as `findOneByOrFail` throws) when there is none.
   */
  async findOneOrFail(where: Pick<Entity, Key>): Promise<Entity> {
    const entity = await this.findOne(where);
    if (entity === null) {
      throw new EntityNotFoundError(this.repository.target, where);
    }
    return entity;
  }

  /** Builds the SQL with a marker object per key, then reads off where the driver put each one. */
  private prepare(): { sql: string; order: Key[]; columns: ColumnMetadata[] } {
    const alias = 'entity';
    const markers = new Map<unknown, Key>(this.keys.map((key) => [{ key }, key]));
    const columns = this.repository.metadata.columns.filter((column) => column.isSelect && !column.isVirtualProperty);
    const qb = this.repository.createQueryBuilder(alias).select([]);
    for (const column of columns) {
      qb.addSelect(`${alias}.${column.propertyPath}`, column.propertyAliasName);
    }
    const parameters = Object.fromEntries([...markers].map(([marker, key]) => [key, marker]));
    qb.where(this.keys.map((key) => `${alias}.${key} = :${key}`).join(' AND '), parameters).limit(1);
    const [sql, bound] = qb.getQueryAndParameters();
    const order = bound.map((marker) => {
      const key = markers.get(marker);
      if (key === undefined) {
        throw new Error(`PreparedLookup: the driver bound an unexpected parameter in ${sql}`);
      }
      return key;
    });
    return { sql, order, columns };
  }

  private hydrate(row: ObjectLiteral, columns: readonly ColumnMetadata[]): Entity {
    const { driver } = this.repository.manager.connection;
    const entity = this.repository.create();
    for (const column of columns) {
      column.setEntityValue(entity, driver.prepareHydratedValue(row[column.propertyAliasName], column));
    }
    return entity;
  }
}
