import { AtlassianOauthStateKey } from '../../src/atlassian';
import { randomUUID } from 'node:crypto';
import { createConnection, ExecuteValues, RowDataPacket } from 'mysql2/promise';
import { Client } from 'pg';
import { ENVELOPE_PREFIX, TokenCipher } from '../../src/token-cipher/token-cipher';
import { keyOf, seedIdOf, tokensOf } from './keys';
import { measureLoad } from './load';
import {
  EngineTarget,
  Floor,
  locate,
  RawConflictError,
  RawState,
  rawStateOf,
  StoredRow,
  WrittenTokens,
} from './target';

/** The server engines the bench knows: PostgreSQL through `pg`, MariaDB/MySQL through `mysql2`. */
export type ServerKind = 'postgres' | 'mariadb';

/** One raw driver connection, with the SQL written once in `?` form and `"name"` quoting. */
interface RawConnection {
  rows<T>(sql: string, params: unknown[]): Promise<T[]>;
  /** Rows changed (PostgreSQL `rowCount`, MySQL `affectedRows`). */
  run(sql: string, params: unknown[]): Promise<number>;
  close(): Promise<void>;
}

/** `?` placeholders and `"quoted"` names, as the kind's driver wants them (`$1`, backticks). */
function dialect(kind: ServerKind, sql: string): string {
  if (kind === 'postgres') {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  }
  return sql.replace(/"/g, '`');
}

async function connectRaw(kind: ServerKind, url: string): Promise<RawConnection> {
  if (kind === 'postgres') {
    const client = new Client({ connectionString: url });
    await client.connect();
    // A named statement is parsed once per connection, as better-sqlite3's prepare is.
    const names = new Map<string, string>();
    const named = (sql: string): { name: string; text: string } => {
      let name = names.get(sql);
      if (name === undefined) {
        name = `bench_${names.size}`;
        names.set(sql, name);
      }
      return { name, text: sql };
    };
    return {
      rows: async <T>(sql: string, params: unknown[]) =>
        (await client.query({ ...named(sql), values: params })).rows as T[],
      run: async (sql, params) => (await client.query({ ...named(sql), values: params })).rowCount ?? 0,
      close: () => client.end(),
    };
  }
  const mysqlUrl = new URL(url);
  mysqlUrl.protocol = 'mysql:';
  // As agent-core's own connection: times as UTC, utf8mb4; `execute` prepares once and caches.
  const connection = await createConnection({
    uri: mysqlUrl.toString(),
    timezone: 'Z',
    charset: 'utf8mb4',
    dateStrings: false,
  });
  return {
    rows: async <T>(sql: string, params: unknown[]) =>
      (await connection.execute<RowDataPacket[]>(sql, params as ExecuteValues[]))[0] as unknown as T[],
    run: async (sql, params) => {
      const [result] = await connection.execute(sql, params as ExecuteValues[]);
      return (result as { affectedRows: number }).affectedRows;
    },
    close: () => connection.end(),
  };
}

const COLUMNS = '"id", "platform", "tenant_id", "accessToken", "refreshToken", "expires_at", "updatedAt"';
const GET_SQL = `SELECT ${COLUMNS} FROM "atlassian_oauth_state" WHERE "platform" = ? AND "tenant_id" = ? LIMIT 1`;
const UPSERT_TAIL: Readonly<Record<ServerKind, string>> = {
  postgres:
    'ON CONFLICT ("platform", "tenant_id") DO UPDATE SET "accessToken" = EXCLUDED."accessToken", "refreshToken" = EXCLUDED."refreshToken", ' +
    '"expires_at" = EXCLUDED."expires_at", "updatedAt" = EXCLUDED."updatedAt"',
  mariadb:
    'ON DUPLICATE KEY UPDATE "accessToken" = VALUES("accessToken"), "refreshToken" = VALUES("refreshToken"), ' +
    '"expires_at" = VALUES("expires_at"), "updatedAt" = VALUES("updatedAt")',
};

/** Rows per multi-row INSERT while seeding (7 parameters each, far below both servers' limits). */
const ROWS_PER_INSERT = 500;

/**
 * The floor on a server: the kind's own driver on a connection of its own to the same database,
 * with the same statements as the SQLite floor in the server's dialect (`INSERT ... ON CONFLICT`
 * on PostgreSQL, `ON DUPLICATE KEY UPDATE` on MariaDB), tokens through the repo's cipher.
 */
class ServerFloor implements Floor {
  private readonly getSql: string;
  private readonly upsertSql: string;
  private readonly storedSql: string;
  private readonly swapSql: string;

  constructor(
    kind: ServerKind,
    private readonly db: RawConnection,
    private readonly cipher: TokenCipher,
  ) {
    this.getSql = dialect(kind, GET_SQL);
    this.upsertSql = dialect(
      kind,
      `INSERT INTO "atlassian_oauth_state" (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ${UPSERT_TAIL[kind]}`,
    );
    this.storedSql = dialect(
      kind,
      'SELECT "id", "refreshToken" FROM "atlassian_oauth_state" WHERE "platform" = ? AND "tenant_id" = ?',
    );
    this.swapSql = dialect(
      kind,
      'UPDATE "atlassian_oauth_state" SET "accessToken" = ?, "refreshToken" = ?, "expires_at" = ?, "updatedAt" = ? WHERE "id" = ? AND "refreshToken" = ?',
    );
  }

  async get(key: AtlassianOauthStateKey): Promise<RawState | null> {
    // Both drivers hand back `timestamptz` / `datetime(3)` as a `Date` already.
    const [row] = await this.db.rows<StoredRow<Date>>(this.getSql, [key.platform, key.tenantId]);
    return row === undefined ? null : rawStateOf(row, this.cipher, (when) => when);
  }

  async upsert(key: AtlassianOauthStateKey, tokens: WrittenTokens): Promise<RawState> {
    const accessToken =
      tokens.accessToken === null ? null : this.cipher.seal(tokens.accessToken, locate(key, 'accessToken'));
    await this.db.run(this.upsertSql, [
      randomUUID(),
      key.platform,
      key.tenantId,
      accessToken,
      this.cipher.seal(tokens.refreshToken, locate(key, 'refreshToken')),
      tokens.expiresAt,
      new Date(),
    ]);
    return this.readBack(key);
  }

  async replaceIfCurrent(key: AtlassianOauthStateKey, expected: string, tokens: WrittenTokens): Promise<RawState> {
    const [stored] = await this.db.rows<{ id: string; refreshToken: string }>(this.storedSql, [
      key.platform,
      key.tenantId,
    ]);
    if (stored === undefined || this.cipher.open(stored.refreshToken, locate(key, 'refreshToken')) !== expected) {
      throw new RawConflictError('the stored refresh token is not the expected one');
    }
    const accessToken =
      tokens.accessToken === null ? null : this.cipher.seal(tokens.accessToken, locate(key, 'accessToken'));
    const refreshToken = this.cipher.seal(tokens.refreshToken, locate(key, 'refreshToken'));
    if (
      (await this.db.run(this.swapSql, [
        accessToken,
        refreshToken,
        tokens.expiresAt,
        new Date(),
        stored.id,
        stored.refreshToken,
      ])) !== 1
    ) {
      throw new RawConflictError('another writer replaced the state first');
    }
    return this.readBack(key);
  }

  private async readBack(key: AtlassianOauthStateKey): Promise<RawState> {
    const state = await this.get(key);
    if (state === null) {
      throw new Error('the raw write did not store the row');
    }
    return state;
  }
}

/**
 * PostgreSQL or MariaDB under the booted app (which migrated the fresh database of `url`): the
 * floor and the seeding use a raw connection of their own.
 */
export async function serverTarget(kind: ServerKind, url: string, cipher: TokenCipher): Promise<EngineTarget> {
  const db = await connectRaw(kind, url);
  const rowsSql = (count: number): string =>
    dialect(
      kind,
      `INSERT INTO "atlassian_oauth_state" (${COLUMNS}) VALUES ${Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    );
  const fullInsert = rowsSql(ROWS_PER_INSERT);
  const databaseBytes = async (): Promise<number> => {
    const sql =
      kind === 'postgres'
        ? 'SELECT pg_database_size(current_database())::bigint AS bytes'
        : 'SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.tables WHERE table_schema = DATABASE()';
    const [row] = await db.rows<{ bytes: string | number }>(sql, []);
    return Number(row?.bytes ?? 0);
  };
  const batch = async (from: number, to: number): Promise<void> => {
    await db.run('BEGIN', []);
    for (let start = from; start < to; start += ROWS_PER_INSERT) {
      const end = Math.min(to, start + ROWS_PER_INSERT);
      const params: unknown[] = [];
      const updatedAt = new Date();
      for (let i = start; i < end; i++) {
        const key = keyOf(i);
        const tokens = tokensOf(-i);
        params.push(
          seedIdOf(i),
          key.platform,
          key.tenantId,
          cipher.seal(tokens.accessToken, locate(key, 'accessToken')),
          cipher.seal(tokens.refreshToken, locate(key, 'refreshToken')),
          tokens.expiresAt,
          updatedAt,
        );
      }
      await db.run(end - start === ROWS_PER_INSERT ? fullInsert : rowsSql(end - start), params);
    }
    await db.run('COMMIT', []);
  };
  return {
    floor: new ServerFloor(kind, db, cipher),
    rawGetSql: dialect(kind, GET_SQL),
    seed: (fromRows, toRows) => measureLoad(fromRows, toRows, batch, databaseBytes),
    explain: async (sql, params) => {
      if (kind === 'postgres') {
        return (await db.rows<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).map((row) => row['QUERY PLAN']);
      }
      const rows = await db.rows<{ table: string; type: string; key: string | null; ref: string | null; rows: number }>(
        `EXPLAIN ${sql}`,
        params,
      );
      return rows.map(
        (row) =>
          `table=${row.table} type=${row.type} key=${row.key ?? 'NULL'} ref=${row.ref ?? 'NULL'} rows=${row.rows}`,
      );
    },
    searchesUniqueIndex: (plan) =>
      kind === 'postgres'
        ? plan.some((step) =>
            /Index (Only )?Scan using "?UQ_1253a704c886bb86d05de9d7756"? on "?atlassian_oauth_state"?/.test(step),
          )
        : plan.some((step) => /type=(const|eq_ref|ref) key=IDX_1253a704c886bb86d05de9d775 /.test(step)),
    settings: async () => {
      const [row] = await db.rows<{ version: string }>(
        kind === 'postgres' ? 'SELECT version() AS version' : 'SELECT VERSION() AS version',
        [],
      );
      return { server: kind, version: row?.version ?? 'unknown' };
    },
    storedSealed: async (key) => {
      const [row] = await db.rows<{ refreshToken: string }>(
        dialect(kind, 'SELECT "refreshToken" FROM "atlassian_oauth_state" WHERE "platform" = ? AND "tenant_id" = ?'),
        [key.platform, key.tenantId],
      );
      return row?.refreshToken.startsWith(ENVELOPE_PREFIX) ?? false;
    },
    close: () => db.close(),
  };
}
