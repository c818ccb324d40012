import { EntityNotFoundError, ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';

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

  private prepare(): { sql: string; order: Key[]; columns: ColumnMetadata[] } {
    const columns = selectableColumns(this.repository);
    const qb = this.repository.createQueryBuilder(ALIAS).select([]);
    for (const column of columns) {
      qb.addSelect(`${ALIAS}.${column.propertyPath}`, column.propertyAliasName);
    }
    const { sql, order } = keyedSql(qb, this.keys);
    return { sql, order, columns };
  }

  private hydrate(row: ObjectLiteral, columns: readonly ColumnMetadata[]): Entity {
    return hydrate(this.repository, row, columns, (column) => column.propertyAliasName);
  }
}

/**
 * {@link PreparedLookup} of one row together with the row of another entity that shares its key
 * columns, `null` when it has none. The statement `LEFT JOIN`s only the other row's first key
 * column: a row that is there (rare for the callers: a key whose refreshes fail) is then read by a
 * second statement, so the common case costs one statement and carries no column of the other
 * entity (each one, `NULL`, costs the driver time on every call: `npm run bench`).
 * Only the SQL text is kept between calls.
 */
export class PreparedJoinedLookup<
  Entity extends ObjectLiteral,
  Joined extends ObjectLiteral,
  Key extends keyof Entity & keyof Joined & string,
> {
  private prepared?: { sql: string; order: Key[]; columns: ColumnMetadata[]; aliases: string[] };
  private readonly joinedLookup: PreparedLookup<Joined, Key>;

  constructor(
    private readonly repository: Repository<Entity>,
    private readonly joined: Repository<Joined>,
    private readonly keys: readonly Key[],
  ) {
    this.joinedLookup = new PreparedLookup(joined, keys);
  }

  /** The entity whose key columns equal `where` and the joined entity of the same key, or `null` when there is no such entity. */
  async findOne(where: Pick<Entity, Key>): Promise<{ entity: Entity; joined: Joined | null } | null> {
    const { sql, order, columns, aliases } = (this.prepared ??= this.prepare());
    const rows = await this.repository.query<ObjectLiteral[]>(
      sql,
      order.map((key) => where[key]),
    );
    const row = rows[0];
    if (row === undefined) {
      return null;
    }
    const entity = hydrate(this.repository, row, columns, (_column, index) => aliases[index] as string);
    // A key column of the joined entity is never NULL in a row it has: NULL means there is none.
    const joined =
      row[JOINED_PRESENT] === null ? null : await this.joinedLookup.findOne(where as unknown as Pick<Joined, Key>);
    return { entity, joined };
  }

  private prepare() {
    const columns = selectableColumns(this.repository);
    const aliases = columns.map((column) => column.propertyAliasName);
    const qb = this.repository.createQueryBuilder(ALIAS).select([]);
    columns.forEach((column, index) => qb.addSelect(`${ALIAS}.${column.propertyPath}`, aliases[index]));
    qb.leftJoin(
      this.joined.metadata.name,
      JOINED_ALIAS,
      this.keys.map((key) => `${JOINED_ALIAS}.${key} = ${ALIAS}.${key}`).join(' AND '),
    );
    qb.addSelect(`${JOINED_ALIAS}.${this.keys[0] as string}`, JOINED_PRESENT);
    const { sql, order } = keyedSql(qb, this.keys);
    return { sql, order, columns, aliases };
  }
}

const ALIAS = 'entity';
const JOINED_ALIAS = 'joined';
/** The alias of the joined row's first key column: `NULL` when there is no joined row. */
const JOINED_PRESENT = 'joined_present';

function selectableColumns(repository: Repository<ObjectLiteral>): ColumnMetadata[] {
  return repository.metadata.columns.filter((column) => column.isSelect && !column.isVirtualProperty);
}

/** The SQL of `qb` with `WHERE key = ... LIMIT 1`, built with a marker object per key, and the order the driver bound them in. */
function keyedSql<Key extends string>(
  qb: SelectQueryBuilder<ObjectLiteral>,
  keys: readonly Key[],
): { sql: string; order: Key[] } {
  const markers = new Map<unknown, Key>(keys.map((key) => [{ key }, key]));
  const parameters = Object.fromEntries([...markers].map(([marker, key]) => [key, marker]));
  qb.where(keys.map((key) => `${ALIAS}.${key} = :${key}`).join(' AND '), parameters).limit(1);
  const [sql, bound] = qb.getQueryAndParameters();
  const order = bound.map((marker) => {
    const key = markers.get(marker);
    if (key === undefined) {
      throw new Error(`PreparedLookup: the driver bound an unexpected parameter in ${sql}`);
    }
    return key;
  });
  return { sql, order };
}

/** An entity of `repository` from a raw row, with the driver's own conversions (column transformers included). */
function hydrate<Entity extends ObjectLiteral>(
  repository: Repository<Entity>,
  row: ObjectLiteral,
  columns: readonly ColumnMetadata[],
  aliasOf: (column: ColumnMetadata, index: number) => string,
): Entity {
  const { driver } = repository.manager.connection;
  const entity = repository.create();
  columns.forEach((column, index) => {
    column.setEntityValue(entity, driver.prepareHydratedValue(row[aliasOf(column, index)], column));
  });
  return entity;
}
