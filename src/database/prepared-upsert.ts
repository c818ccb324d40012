import { randomUUID } from 'node:crypto';
import { ObjectLiteral, Repository } from 'typeorm';

/** TypeORM's metadata of one column (the class is not exported from the package root). */
type ColumnMetadata = Repository<ObjectLiteral>['metadata']['columns'][number];

/** Where one bound value of the prepared statement comes from. */
type Slot = { column: ColumnMetadata } | 'new-uuid';

/**
 * `INSERT ... ON CONFLICT (keys) DO UPDATE SET <every other column but the primary key>` (`ON
 * DUPLICATE KEY UPDATE` on MariaDB/MySQL), with its SQL built once: {@link PreparedLookup}'s idea
 * for the write. TypeORM's `InsertQueryBuilder` writes the statement once for the connection's
 * driver (placeholders, quoting, `DEFAULT` for a key the database generates); every call only
 * converts the values with the driver's own `preparePersistentValue` and binds them in that
 * statement's order, where building it again costs several times the statement itself
 * (`npm run bench:breakdown`). A uuid primary key that TypeORM would generate in the client (SQLite,
 * MariaDB/MySQL) gets a fresh `randomUUID()` per call, as TypeORM does; on the update path it is
 * not written, so the row keeps its id.
 *
 * The key columns are not in the `SET` list: rewriting them to the same value rewrites the unique
 * index entry (on SQLite a second page in every commit). Nothing is reloaded after the write.
 * Relations, embedded entities, column transformers' reverse side and listeners are not supported
 * (the entities it serves have none).
 */
export class PreparedUpsert<Entity extends ObjectLiteral, Key extends keyof Entity & string> {
  private prepared?: { sql: string; slots: Slot[] };

  constructor(
    private readonly repository: Repository<Entity>,
    private readonly keys: readonly Key[],
  ) {}

  /** Inserts `values`, or replaces every non-key column of the row whose key columns equal theirs. */
  async upsert(values: Omit<Entity, 'id'>): Promise<void> {
    const { sql, slots } = (this.prepared ??= this.prepare());
    const { driver } = this.repository.manager.connection;
    const parameters = slots.map((slot): unknown =>
      slot === 'new-uuid'
        ? randomUUID()
        : (driver.preparePersistentValue(slot.column.getEntityValue(values as ObjectLiteral), slot.column) as unknown),
    );
    await this.repository.query(sql, parameters);
  }

  /** Builds the statement with a marker object per column, then reads off where the driver bound each one. */
  private prepare(): { sql: string; slots: Slot[] } {
    const { metadata } = this.repository;
    const keyColumns = metadata.mapPropertyPathsToColumns([...this.keys]);
    const written = metadata.columns.filter((column) => !(column.isPrimary && column.isGenerated));
    const markers = new Map<unknown, ColumnMetadata>(
      written.map((column) => [{ column: column.propertyPath }, column]),
    );
    const values: ObjectLiteral = {};
    for (const [marker, column] of markers) {
      column.setEntityValue(values, marker);
    }
    const [sql, bound] = this.repository.manager
      .createQueryBuilder()
      .insert()
      .into<ObjectLiteral>(metadata.target)
      .values(values)
      .orUpdate(
        written.filter((column) => !keyColumns.includes(column)).map((column) => column.databaseName),
        keyColumns.map((column) => column.databaseName),
        { upsertType: this.repository.manager.connection.driver.supportedUpsertTypes[0] },
      )
      .updateEntity(false)
      .getQueryAndParameters();
    let generatedIds = 0;
    const slots = bound.map((parameter): Slot => {
      const column = markers.get(parameter);
      if (column !== undefined) {
        return { column };
      }
      // The only value TypeORM itself puts in: the uuid it generates for the primary key.
      if (typeof parameter === 'string' && generatedIds++ === 0) {
        return 'new-uuid';
      }
      throw new Error(`PreparedUpsert: the driver bound an unexpected parameter in ${sql}`);
    });
    return { sql, slots };
  }
}
