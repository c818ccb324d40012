import { QueryRunner } from 'typeorm';

/** What the MariaDB/MySQL migrations need to know about the server they run on. */
export interface ServerFlavor {
  /** True on MariaDB, false on MySQL. */
  readonly mariaDb: boolean;
  /** MariaDB 10.7+ has a native `uuid` type, which TypeORM maps `uuid` columns to there. */
  readonly nativeUuid: boolean;
  /**
   * The table collation that compares strings byte for byte without padding, as SQLite and
   * PostgreSQL do: with the server's usual case-insensitive, space-padding collation `Tenant-A`,
   * `tenant-a` and `tenant-a ` would be one key.
   */
  readonly exactCollation: 'utf8mb4_nopad_bin' | 'utf8mb4_0900_bin';
}

/** Anything that runs SQL: a `QueryRunner` in a migration, a `DataSource` while connecting. */
interface Queryable {
  query(sql: string): Promise<unknown>;
}

/** The server's `VERSION()`, e.g. `11.8.3-MariaDB-0+deb13u1` or `8.4.2`. */
async function serverVersion(queryable: Queryable): Promise<string> {
  const [row] = (await queryable.query(`SELECT VERSION() AS version`)) as { version?: string }[];
  return row?.version ?? '';
}

const isMariaDbVersion = (version: string): boolean => version.includes('MariaDB');

/** True when a `mysql`-protocol server is MariaDB, whose catalogue TypeORM reads right only as `mariadb`. */
export async function isMariaDb(queryable: Queryable): Promise<boolean> {
  return isMariaDbVersion(await serverVersion(queryable));
}

/** Asks the server what it is. Migrations import this, so change it only in ways that keep old migrations' SQL. */
export async function serverFlavor(queryRunner: QueryRunner): Promise<ServerFlavor> {
  const version = await serverVersion(queryRunner);
  const mariaDb = isMariaDbVersion(version);
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return {
    mariaDb,
    nativeUuid: mariaDb && (major > 10 || (major === 10 && minor >= 7)),
    exactCollation: mariaDb ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin',
  };
}
