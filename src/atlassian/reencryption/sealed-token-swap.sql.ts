import { ATLASSIAN_OAUTH_STATE_TABLE } from '../../database/entities/atlassian-oauth-state.entity';

/** One row of a batch compare-and-swap: its id, the stored token values read, and their replacements. */
export interface SealedTokenSwap {
  readonly id: string;
  readonly storedAccessToken: string | null;
  readonly storedRefreshToken: string;
  readonly accessToken: string | null;
  readonly refreshToken: string;
}

/** One statement of a batch swap and how to learn which rows it rewrote. */
export interface SwapStatement {
  readonly sql: string;
  readonly parameters: unknown[];
  /** True when the statement returns the ids it rewrote (`RETURNING`); else they are read back. */
  readonly returnsIds: boolean;
}

/** The server dialects agent-core runs on, as TypeORM names their drivers (SQLite swaps row by row). */
export type SwapDialect = 'postgres' | 'mysql' | 'mariadb';

const TABLE = ATLASSIAN_OAUTH_STATE_TABLE;

/**
 * SQLite's compare-and-swap of one row, prepared once and run for every row of a batch inside one
 * transaction: parameters `accessToken, refreshToken, id, storedRefreshToken, storedAccessToken`.
 * `IS` compares a `NULL` access token; `updatedAt` is not written.
 */
export const SQLITE_ROW_SWAP_SQL =
  `UPDATE "${TABLE}" SET "accessToken" = ?, "refreshToken" = ? ` +
  `WHERE "id" = ? AND "refreshToken" = ? AND "accessToken" IS ?`;

/** {@link SQLITE_ROW_SWAP_SQL}'s parameters for one swap, in its order. */
export const sqliteRowSwapParameters = (swap: SealedTokenSwap): unknown[] => [
  swap.accessToken,
  swap.refreshToken,
  swap.id,
  swap.storedRefreshToken,
  swap.storedAccessToken,
];

/**
 * One `UPDATE` that rewrites the tokens of every row in `swaps` whose both stored values are still
 * exactly the ones read, and leaves every other row alone: the compare is per row, inside the one
 * statement, so the database applies the whole batch atomically (one commit) and a row that a
 * concurrent writer changed after it was read matches nothing. `updatedAt` is not changed.
 *
 * - PostgreSQL joins a `VALUES` list on the primary key and returns the ids it rewrote;
 *   `IS NOT DISTINCT FROM` compares a `NULL` access token.
 * - MariaDB/MySQL have neither `UPDATE ... FROM` nor `UPDATE ... RETURNING`: the rows are picked
 *   by an `OR` of per-row conditions on the primary key, the new values by `CASE id`, `<=>`
 *   compares `NULL`, and `updatedAt` is assigned itself so that its `ON UPDATE CURRENT_TIMESTAMP`
 *   keeps it. Bound values compare under the columns' binary collation.
 */
export function sealedTokenSwapStatement(dialect: SwapDialect, swaps: readonly SealedTokenSwap[]): SwapStatement {
  if (dialect === 'mysql' || dialect === 'mariadb') {
    return mysqlSwap(swaps);
  }
  const parameters: unknown[] = [];
  const bind = (value: unknown, cast: string): string => {
    parameters.push(value);
    return `$${parameters.length}::${cast}`;
  };
  const rows = swaps.map(
    (swap) =>
      `(${bind(swap.id, 'uuid')}, ${bind(swap.storedAccessToken, 'text')}, ${bind(swap.storedRefreshToken, 'text')}, ` +
      `${bind(swap.accessToken, 'text')}, ${bind(swap.refreshToken, 'text')})`,
  );
  const sql =
    `WITH v(id, old_access, old_refresh, new_access, new_refresh) AS (VALUES ${rows.join(', ')}) ` +
    `UPDATE "${TABLE}" SET "accessToken" = v.new_access, "refreshToken" = v.new_refresh FROM v ` +
    `WHERE "${TABLE}"."id" = v.id AND "${TABLE}"."refreshToken" = v.old_refresh ` +
    `AND "${TABLE}"."accessToken" IS NOT DISTINCT FROM v.old_access RETURNING "${TABLE}"."id" AS id`;
  return { sql, parameters, returnsIds: true };
}

function mysqlSwap(swaps: readonly SealedTokenSwap[]): SwapStatement {
  const caseParameters = (column: 'accessToken' | 'refreshToken'): unknown[] =>
    swaps.flatMap((swap) => [swap.id, swap[column]]);
  const whens = swaps.map(() => 'WHEN ? THEN ?').join(' ');
  const matches = swaps.map(() => '(`id` = ? AND `refreshToken` = ? AND `accessToken` <=> ?)').join(' OR ');
  const sql =
    `UPDATE \`${TABLE}\` SET \`accessToken\` = CASE \`id\` ${whens} END, ` +
    `\`refreshToken\` = CASE \`id\` ${whens} END, \`updatedAt\` = \`updatedAt\` WHERE ${matches}`;
  return {
    sql,
    parameters: [
      ...caseParameters('accessToken'),
      ...caseParameters('refreshToken'),
      ...swaps.flatMap((swap) => [swap.id, swap.storedRefreshToken, swap.storedAccessToken]),
    ],
    returnsIds: false,
  };
}
