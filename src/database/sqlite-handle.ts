import { DataSource } from 'typeorm';

/** The part of a better-sqlite3 `Statement` agent-core uses (the package ships no types of its own). */
export interface SqliteStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}

/** A better-sqlite3 transaction function: runs its body between `BEGIN` and `COMMIT`, synchronously. */
export interface SqliteTransaction<Args extends unknown[], Result> {
  (...args: Args): Result;
  /** The same body between `BEGIN IMMEDIATE` and `COMMIT`: the write lock is taken at the start. */
  immediate(...args: Args): Result;
}

/** The part of a better-sqlite3 `Database` agent-core uses. */
export interface SqliteHandle {
  /** True while a transaction is open on this connection, whoever opened it. */
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
  pragma(source: string, options?: { simple: boolean }): unknown;
  transaction<Args extends unknown[], Result>(fn: (...args: Args) => Result): SqliteTransaction<Args, Result>;
}

/**
 * The better-sqlite3 connection under a TypeORM data source (TypeORM keeps one per data source),
 * for the few writes that TypeORM cannot run as one synchronous transaction.
 *
 * @throws Error when `dataSource` is not a better-sqlite3 data source.
 */
export function sqliteHandleOf(dataSource: DataSource): SqliteHandle {
  if (dataSource.options.type !== 'better-sqlite3') {
    throw new Error(`a better-sqlite3 data source was expected, not ${dataSource.options.type}`);
  }
  return (dataSource.driver as unknown as { databaseConnection: SqliteHandle }).databaseConnection;
}
