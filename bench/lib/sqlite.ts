import { AtlassianOauthStateKey } from '../../src/atlassian';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ENVELOPE_PREFIX, TokenCipher } from '../../src/token-cipher/token-cipher';
import { SqliteHandle, SqliteStatement, sqliteHandleOf } from '../../src/database/sqlite-handle';
import { keyOf, seedIdOf, tokensOf } from './keys';
import { LoadStats, measureLoad } from './load';
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

/** TypeORM's SQLite datetime text: UTC `YYYY-MM-DD HH:MM:SS.SSS`. */
const toSqliteDate = (date: Date): string => date.toISOString().replace('T', ' ').slice(0, 23);
const fromSqliteDate = (text: string): Date => new Date(`${text.replace(' ', 'T')}Z`);

const COLUMNS = 'id, platform, tenant_id, accessToken, refreshToken, expires_at, updatedAt';

/** The get query, written by hand: the floor that `repo.get` is compared to. */
export const RAW_GET_SQL = `SELECT ${COLUMNS} FROM atlassian_oauth_state WHERE platform = ? AND tenant_id = ? LIMIT 1`;

/**
 * The floor: hand-written better-sqlite3 prepared statements doing what the repo does, on the
 * same connection. `get` is one indexed SELECT turned into an object with `Date`s; `upsert` is
 * `INSERT ... ON CONFLICT (platform, tenant_id) DO UPDATE` of every column, then that SELECT.
 * Tokens go through the repo's own {@link TokenCipher} (sealed on write, opened on read; a
 * pass-through in plaintext mode), so with encryption on the floor does the same crypto too.
 */
export class SqliteFloor implements Floor {
  private readonly select: SqliteStatement;
  private readonly write: SqliteStatement;
  private readonly selectStored: SqliteStatement;
  private readonly swap: SqliteStatement;

  constructor(
    db: SqliteHandle,
    private readonly cipher: TokenCipher,
  ) {
    this.select = db.prepare(RAW_GET_SQL);
    this.write = db.prepare(
      `INSERT INTO atlassian_oauth_state (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ` +
        'ON CONFLICT (platform, tenant_id) DO UPDATE SET accessToken = excluded.accessToken, refreshToken = excluded.refreshToken, ' +
        'expires_at = excluded.expires_at, updatedAt = excluded.updatedAt',
    );
    this.selectStored = db.prepare(
      'SELECT id, refreshToken FROM atlassian_oauth_state WHERE platform = ? AND tenant_id = ?',
    );
    this.swap = db.prepare(
      'UPDATE atlassian_oauth_state SET accessToken = ?, refreshToken = ?, expires_at = ?, updatedAt = ? WHERE id = ? AND refreshToken = ?',
    );
  }

  get(key: AtlassianOauthStateKey): RawState | null {
    const row = this.select.get(key.platform, key.tenantId) as StoredRow<string> | undefined;
    return row === undefined ? null : rawStateOf(row, this.cipher, fromSqliteDate);
  }

  replaceIfCurrent(key: AtlassianOauthStateKey, expected: string, tokens: WrittenTokens): RawState {
    const stored = this.selectStored.get(key.platform, key.tenantId) as
      { id: string; refreshToken: string } | undefined;
    if (stored === undefined || this.cipher.open(stored.refreshToken, locate(key, 'refreshToken')) !== expected) {
      throw new RawConflictError('the stored refresh token is not the expected one');
    }
    const accessToken =
      tokens.accessToken === null ? null : this.cipher.seal(tokens.accessToken, locate(key, 'accessToken'));
    const refreshToken = this.cipher.seal(tokens.refreshToken, locate(key, 'refreshToken'));
    const expiresAt = tokens.expiresAt === null ? null : toSqliteDate(tokens.expiresAt);
    if (
      this.swap.run(accessToken, refreshToken, expiresAt, toSqliteDate(new Date()), stored.id, stored.refreshToken)
        .changes !== 1
    ) {
      throw new RawConflictError('another writer replaced the state first');
    }
    const current = this.get(key);
    if (current === null) {
      throw new Error('the raw conditional write lost the row');
    }
    return current;
  }

  upsert(key: AtlassianOauthStateKey, tokens: WrittenTokens): RawState {
    const expiresAt = tokens.expiresAt === null ? null : toSqliteDate(tokens.expiresAt);
    const accessToken =
      tokens.accessToken === null ? null : this.cipher.seal(tokens.accessToken, locate(key, 'accessToken'));
    const refreshToken = this.cipher.seal(tokens.refreshToken, locate(key, 'refreshToken'));
    this.write.run(
      randomUUID(),
      key.platform,
      key.tenantId,
      accessToken,
      refreshToken,
      expiresAt,
      toSqliteDate(new Date()),
    );
    const stored = this.get(key);
    if (stored === null) {
      throw new Error('the raw upsert did not store the row');
    }
    return stored;
  }
}

/**
 * Grows the table from `fromRows` to `toRows` tenants with raw prepared inserts, one transaction
 * per batch ({@link measureLoad}). Rows are generated one at a time from their number; their ids
 * and keys ascend ({@link keyOf}, {@link seedIdOf}), so every batch appends to the indexes.
 */
export function seed(db: SqliteHandle, cipher: TokenCipher, fromRows: number, toRows: number): Promise<LoadStats> {
  const insert = db.prepare(`INSERT INTO atlassian_oauth_state (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`);
  const updatedAt = toSqliteDate(new Date());
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const key = keyOf(i);
      const tokens = tokensOf(-i);
      const accessToken = cipher.seal(tokens.accessToken, locate(key, 'accessToken'));
      const refreshToken = cipher.seal(tokens.refreshToken, locate(key, 'refreshToken'));
      insert.run(
        seedIdOf(i),
        key.platform,
        key.tenantId,
        accessToken,
        refreshToken,
        toSqliteDate(tokens.expiresAt),
        updatedAt,
      );
    }
  });
  const databaseBytes = (): number =>
    (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  return measureLoad(fromRows, toRows, batch, databaseBytes);
}

/** True when the stored refresh token of `key` is a sealed envelope rather than plaintext. */
export function isStoredSealed(db: SqliteHandle, key: AtlassianOauthStateKey): boolean {
  const row = db
    .prepare('SELECT refreshToken FROM atlassian_oauth_state WHERE platform = ? AND tenant_id = ?')
    .get(key.platform, key.tenantId) as { refreshToken: string } | undefined;
  return row?.refreshToken.startsWith(ENVELOPE_PREFIX) ?? false;
}

/** `EXPLAIN QUERY PLAN` of `sql`, one line per step (`SEARCH ... USING INDEX ...`). */
export function explainQueryPlan(db: SqliteHandle, sql: string, params: unknown[]): string[] {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((step) => step.detail);
}

/** The pragmas that decide what a write costs, as in effect on the connection. */
export function sqlitePragmas(db: SqliteHandle): Record<string, unknown> {
  return {
    journal_mode: db.pragma('journal_mode', { simple: true }),
    synchronous: db.pragma('synchronous', { simple: true }),
    busy_timeout: db.pragma('busy_timeout', { simple: true }),
    cache_size: db.pragma('cache_size', { simple: true }),
  };
}

const SEARCHES_UNIQUE_INDEX =
  /^SEARCH .* USING (COVERING )?INDEX sqlite_autoindex_atlassian_oauth_state_\d+ \(platform=\? AND tenant_id=\?\)/;

/** SQLite (`:memory:` or a file) through the better-sqlite3 connection under TypeORM. */
export function sqliteTarget(dataSource: DataSource, cipher: TokenCipher): EngineTarget {
  const db = sqliteHandleOf(dataSource);
  return {
    floor: new SqliteFloor(db, cipher),
    rawGetSql: RAW_GET_SQL,
    seed: (fromRows, toRows) => seed(db, cipher, fromRows, toRows),
    explain: (sql, params) => Promise.resolve(explainQueryPlan(db, sql, params)),
    searchesUniqueIndex: (plan) => plan.some((step) => SEARCHES_UNIQUE_INDEX.test(step)),
    settings: () => Promise.resolve(sqlitePragmas(db)),
    storedSealed: (key) => Promise.resolve(isStoredSealed(db, key)),
    close: () => Promise.resolve(),
  };
}
