/**
 * The floor of `bench:reencrypt`: the raw driver doing by hand what `reencryptAll` does, in the
 * same process and the same run, on a copy of the same rows: keyset pages of the same size read
 * with one `SELECT`, both tokens of every row opened and sealed again with the repo's own
 * `TokenCipher` (the same four calls per row), and each page written back with the same
 * compare-and-swap SQL in one commit (SQLite: the prepared one-row `UPDATE` for every row inside
 * one `BEGIN IMMEDIATE`; PostgreSQL and MariaDB: the one batch `UPDATE`). What `reencryptAll`
 * costs beyond it is TypeORM's and the service's.
 */
import { createConnection, RowDataPacket } from 'mysql2/promise';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import {
  SealedTokenSwap,
  SQLITE_ROW_SWAP_SQL,
  sealedTokenSwapStatement,
  sqliteRowSwapParameters,
} from '../../src/atlassian/reencryption/sealed-token-swap.sql';
import { ATLASSIAN_OAUTH_STATE_TABLE } from '../../src/database/entities/atlassian-oauth-state.entity';
import { sqliteHandleOf } from '../../src/database/sqlite-handle';
import { TokenCipher } from '../../src/token-cipher/token-cipher';
import { locate } from './target';

/** The copies of the state table the floor rewrites (`reencryptAll` still finds every row of its own to move). */
const floorTable = (copy: number): string => `${ATLASSIAN_OAUTH_STATE_TABLE}_floor${copy}`;

/** A stored row as the floor reads it (every column, as `findSealedPage` reads every column). */
interface FloorRow {
  id: string;
  platform: string;
  tenant_id: string;
  accessToken: string | null;
  refreshToken: string;
}

/** The floor's database side: a page after an id, and a page's swaps in one commit. */
interface FloorDriver {
  page(afterId: string | undefined, limit: number): Promise<FloorRow[]>;
  /** Rows rewritten. */
  swap(swaps: readonly SealedTokenSwap[]): Promise<number>;
  close(): Promise<void>;
}

/** Where the floor's time went, and how much of it. */
export interface ReencryptFloorRun {
  readonly rows: number;
  readonly ms: number;
  readonly rowsPerSecond: number;
  readonly cpuMs: number;
  readonly phasesMs: { read: number; open: number; seal: number; write: number };
}

const COLUMNS = '"id", "platform", "tenant_id", "accessToken", "refreshToken", "expires_at", "updatedAt"';

/** SQL written for the state table, on the floor's copy `table`. */
const onTable = (table: string, sql: string): string =>
  sql
    .replaceAll(`"${ATLASSIAN_OAUTH_STATE_TABLE}"`, `"${table}"`)
    .replaceAll(`\`${ATLASSIAN_OAUTH_STATE_TABLE}\``, `\`${table}\``);

/** Copies the state table, its keys and indexes included, into `table` (not timed). */
async function copyTable(dataSource: DataSource, table: string): Promise<void> {
  const type = dataSource.options.type;
  if (type === 'better-sqlite3') {
    const ddl = await dataSource.query<{ sql: string }[]>(
      `SELECT "sql" FROM "sqlite_master" WHERE "tbl_name" = ? AND "sql" IS NOT NULL ORDER BY "type" DESC`,
      [ATLASSIAN_OAUTH_STATE_TABLE],
    );
    for (const { sql } of ddl) {
      // The table first ('table' sorts after 'index' descending), then its named indexes, renamed.
      await dataSource.query(
        onTable(
          table,
          sql.replace(/INDEX\s+"(\w+)"/i, (_, name: string) => `INDEX "${name}_${table}"`),
        ),
      );
    }
  } else if (type === 'postgres') {
    await dataSource.query(`CREATE TABLE "${table}" (LIKE "${ATLASSIAN_OAUTH_STATE_TABLE}" INCLUDING ALL)`);
  } else {
    await dataSource.query(`CREATE TABLE \`${table}\` LIKE \`${ATLASSIAN_OAUTH_STATE_TABLE}\``);
  }
  const quote = type === 'mysql' || type === 'mariadb' ? (sql: string) => sql.replace(/"/g, '`') : (sql: string) => sql;
  await dataSource.query(
    quote(`INSERT INTO "${table}" (${COLUMNS}) SELECT ${COLUMNS} FROM "${ATLASSIAN_OAUTH_STATE_TABLE}"`),
  );
}

/** better-sqlite3: the connection under TypeORM (its pragmas), statements prepared once. */
function sqliteDriver(dataSource: DataSource, table: string): FloorDriver {
  const db = sqliteHandleOf(dataSource);
  const first = db.prepare(`SELECT ${COLUMNS} FROM "${table}" ORDER BY "id" LIMIT ?`);
  const after = db.prepare(`SELECT ${COLUMNS} FROM "${table}" WHERE "id" > ? ORDER BY "id" LIMIT ?`);
  const update = db.prepare(onTable(table, SQLITE_ROW_SWAP_SQL));
  const swapAll = db.transaction((swaps: readonly SealedTokenSwap[]) =>
    swaps.reduce((n, swap) => n + update.run(...sqliteRowSwapParameters(swap)).changes, 0),
  );
  return {
    page: (afterId, limit) =>
      Promise.resolve((afterId === undefined ? first.all(limit) : after.all(afterId, limit)) as FloorRow[]),
    swap: (swaps) => Promise.resolve(swapAll.immediate(swaps)),
    close: () => Promise.resolve(),
  };
}

/** `pg` on a connection of its own: the page as a named statement, the swap as the service sends it. */
async function postgresDriver(url: string, table: string): Promise<FloorDriver> {
  const client = new Client({ connectionString: url });
  await client.connect();
  return {
    page: async (afterId, limit) =>
      (afterId === undefined
        ? await client.query<FloorRow>({
            name: `${table}_first`,
            text: `SELECT ${COLUMNS} FROM "${table}" ORDER BY "id" LIMIT $1`,
            values: [limit],
          })
        : await client.query<FloorRow>({
            name: `${table}_after`,
            text: `SELECT ${COLUMNS} FROM "${table}" WHERE "id" > $1 ORDER BY "id" LIMIT $2`,
            values: [afterId, limit],
          })
      ).rows,
    swap: async (swaps) => {
      const { sql, parameters } = sealedTokenSwapStatement('postgres', swaps);
      return (await client.query(onTable(table, sql), parameters)).rowCount ?? 0;
    },
    close: () => client.end(),
  };
}

/** `mysql2` on a connection of its own, set up as agent-core's (UTC, utf8mb4). */
async function mysqlDriver(url: string, table: string): Promise<FloorDriver> {
  const mysqlUrl = new URL(url);
  mysqlUrl.protocol = 'mysql:';
  const connection = await createConnection({ uri: mysqlUrl.toString(), timezone: 'Z', charset: 'utf8mb4' });
  const columns = COLUMNS.replace(/"/g, '`');
  return {
    page: async (afterId, limit) =>
      (afterId === undefined
        ? (
            await connection.execute<RowDataPacket[]>(`SELECT ${columns} FROM \`${table}\` ORDER BY id LIMIT ${limit}`)
          )[0]
        : (
            await connection.execute<RowDataPacket[]>(
              `SELECT ${columns} FROM \`${table}\` WHERE id > ? ORDER BY id LIMIT ${limit}`,
              [afterId],
            )
          )[0]) as unknown as FloorRow[],
    swap: async (swaps) => {
      const { sql, parameters } = sealedTokenSwapStatement('mariadb', swaps);
      const [result] = await connection.query(onTable(table, sql), parameters);
      return (result as { affectedRows: number }).affectedRows;
    },
    close: () => connection.end(),
  };
}

/**
 * Copies the state table `copies` times (not timed), before anything moves its rows: one copy for
 * each floor run, so that a floor can run before `reencryptAll` and another after it, on the same
 * rows, and a load that changes during the run weighs on both sides.
 *
 * @returns the copies, each to be passed once to {@link runReencryptFloor}.
 */
export async function copyForFloors(dataSource: DataSource, copies: number): Promise<string[]> {
  const tables = Array.from({ length: copies }, (_, copy) => floorTable(copy + 1));
  for (const table of tables) {
    await copyTable(dataSource, table);
  }
  return tables;
}

/**
 * Moves every row of the copy `table` under `cipher`'s active key by hand, `batchSize` rows a
 * page, then drops the copy. `serverUrl` is the database's URL on a server (the floor connects to
 * it with the raw driver), undefined on SQLite (the connection under TypeORM, with its pragmas).
 *
 * @throws Error when a page was not rewritten whole (the floor would then measure less work).
 */
export async function runReencryptFloor(
  dataSource: DataSource,
  serverUrl: string | undefined,
  cipher: TokenCipher,
  batchSize: number,
  table: string,
): Promise<ReencryptFloorRun> {
  const type = dataSource.options.type;
  const driver =
    serverUrl === undefined
      ? sqliteDriver(dataSource, table)
      : type === 'postgres'
        ? await postgresDriver(serverUrl, table)
        : await mysqlDriver(serverUrl, table);
  const phases = { read: 0, open: 0, seal: 0, write: 0 };
  const since = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
  let rows = 0;
  try {
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    let afterId: string | undefined;
    for (;;) {
      let mark = process.hrtime.bigint();
      const page = await driver.page(afterId, batchSize);
      phases.read += since(mark);
      if (page.length === 0) {
        break;
      }
      const swaps = page.map((row): SealedTokenSwap => {
        const key = { platform: row.platform, tenantId: row.tenant_id };
        mark = process.hrtime.bigint();
        const access = row.accessToken === null ? null : cipher.open(row.accessToken, locate(key, 'accessToken'));
        const refresh = cipher.open(row.refreshToken, locate(key, 'refreshToken'));
        phases.open += since(mark);
        mark = process.hrtime.bigint();
        const swap = {
          id: row.id,
          storedAccessToken: row.accessToken,
          storedRefreshToken: row.refreshToken,
          accessToken: access === null ? null : cipher.seal(access, locate(key, 'accessToken')),
          refreshToken: cipher.seal(refresh, locate(key, 'refreshToken')),
        };
        phases.seal += since(mark);
        return swap;
      });
      mark = process.hrtime.bigint();
      const written = await driver.swap(swaps);
      phases.write += since(mark);
      if (written !== swaps.length) {
        throw new Error(`the re-encryption floor rewrote ${written} of a page of ${swaps.length} rows`);
      }
      rows += written;
      afterId = page[page.length - 1]?.id;
    }
    const ms = since(started);
    const cpu = process.cpuUsage(cpuBefore);
    return {
      rows,
      ms: Math.round(ms),
      rowsPerSecond: Math.round(rows / (ms / 1000)),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      phasesMs: {
        read: Math.round(phases.read),
        open: Math.round(phases.open),
        seal: Math.round(phases.seal),
        write: Math.round(phases.write),
      },
    };
  } finally {
    await driver.close();
    const quoted = type === 'mysql' || type === 'mariadb' ? `\`${table}\`` : `"${table}"`;
    await dataSource.query(`DROP TABLE ${quoted}`);
  }
}
