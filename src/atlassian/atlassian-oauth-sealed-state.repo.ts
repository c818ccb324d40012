import { Injectable, Optional } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { setTimeout as sleep } from 'node:timers/promises';
import { In, IsNull, MoreThan, QueryFailedError, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../database/database-outage.monitor';
import { DatabaseRepo } from '../database/database-repo';
import { AtlassianOauthStateEntity } from '../database/entities';
import { SqliteHandle, SqliteStatement, sqliteHandleOf } from '../database/sqlite-handle';
import { AgentCoreMetrics } from '../metrics/agent-core-metrics';
import { MeasuredStoreCall } from '../metrics/measured-store-call';
import { TokenColumns } from './atlassian-oauth-token-sealer';
import {
  SealedTokenSwap,
  SQLITE_ROW_SWAP_SQL,
  sealedTokenSwapStatement,
  sqliteRowSwapParameters,
  SwapDialect,
} from './reencryption/sealed-token-swap.sql';

/**
 * Rows per commit of {@link AtlassianOauthSealedStateRepo.replaceSealedTokensBatch}: on a server one
 * statement of 5,000 bound values (7,000 on MariaDB/MySQL), far below every engine's limit; on
 * SQLite a transaction that holds the event loop for some milliseconds, not seconds.
 */
export const MAX_SWAPS_PER_STATEMENT = 1_000;

/** How often a SQLite batch looks again whether another caller's transaction on the connection has ended. */
const SQLITE_OPEN_TRANSACTION_POLL_MS = 5;

/**
 * The state rows as they are stored, tokens still sealed: what re-encryption reads and swaps.
 * Everything else reads and writes plaintext through `AtlassianOauthStateRepo`; only
 * `AtlassianOauthReencryptionService` needs the stored form, so it lives apart from the plan's store.
 */
@Injectable()
export class AtlassianOauthSealedStateRepo extends DatabaseRepo {
  /** SQLite's prepared one-row swap and the connection it was prepared on. */
  private sqliteSwap?: { db: SqliteHandle; statement: SqliteStatement };

  constructor(
    @InjectRepository(AtlassianOauthStateEntity)
    private readonly repository: Repository<AtlassianOauthStateEntity>,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
    /** The application's metrics when it serves them: each public method's duration is recorded. */
    @Optional() readonly metrics?: AgentCoreMetrics,
  ) {
    super(outages);
  }

  /** Counts the stored rows. */
  async count(): Promise<number> {
    return this.repository.count();
  }

  /**
   * Up to `limit` rows as stored (tokens still sealed), in `id` order after `afterId` (from the
   * first row when `undefined`): keyset pagination, so a walk over the whole table keeps memory
   * flat and never skips or repeats a row when others are inserted or deleted meanwhile. For
   * re-encryption, which must see the stored form; everyone else reads with `AtlassianOauthStateRepo.get`.
   */
  @MeasuredStoreCall()
  async findSealedPage(afterId: string | undefined, limit: number): Promise<AtlassianOauthStateEntity[]> {
    return this.repository.find({
      where: afterId === undefined ? {} : { id: MoreThan(afterId) },
      order: { id: 'ASC' },
      take: limit,
    });
  }

  /** One row as stored (tokens still sealed), or `null` when it was deleted. */
  @MeasuredStoreCall()
  async findSealedById(id: string): Promise<AtlassianOauthStateEntity | null> {
    return this.repository.findOneBy({ id });
  }

  /**
   * Compare-and-swap of a row's stored token values: writes `resealed`'s tokens only while both
   * stored values are still exactly `row`'s, and keeps `updatedAt` (the token state itself did
   * not change). A concurrent writer that changed either token makes it match nothing.
   *
   * @returns `true` when the row was rewritten, `false` when it had changed or is gone.
   */
  @MeasuredStoreCall()
  async replaceSealedTokens(
    row: AtlassianOauthStateEntity,
    resealed: Pick<TokenColumns, 'accessToken' | 'refreshToken'>,
  ): Promise<boolean> {
    const { affected } = await this.repository.update(
      { id: row.id, refreshToken: row.refreshToken, accessToken: row.accessToken ?? IsNull() },
      { accessToken: resealed.accessToken, refreshToken: resealed.refreshToken, updatedAt: row.updatedAt },
    );
    return affected === 1;
  }

  /**
   * {@link replaceSealedTokens} for many rows at once, each row rewritten only while both its
   * stored token values are still the ones in `swaps`, in commits of up to
   * {@link MAX_SWAPS_PER_STATEMENT} rows: one fsync per commit, not one per row. `updatedAt` is kept.
   *
   * - PostgreSQL, MariaDB/MySQL: one `UPDATE` per commit (see `sealedTokenSwapStatement`), on a
   *   pooled connection of its own.
   * - SQLite: one prepared one-row `UPDATE` per row, all of a commit's rows inside one
   *   `BEGIN IMMEDIATE ... COMMIT` run synchronously by better-sqlite3 on TypeORM's one shared
   *   connection. Nothing else of this process can run between that `BEGIN` and `COMMIT`, so no
   *   other write lands inside the batch's transaction; and it starts only when no transaction of
   *   another caller is open on that connection (it waits for it to end), so the batch never
   *   becomes part of someone else's transaction and is never rolled back with it. Measured with
   *   better-sqlite3 alone on 100k rows of a file with the production settings: about 2 s of write
   *   time, against 3.5 s for the one-statement `UPDATE ... FROM (VALUES ...)` it replaced (which
   *   also ran inside whatever transaction was open). A second connection was not chosen: this
   *   process's own writes would then wait on its lock (SQLITE_BUSY past the busy timeout) instead
   *   of running between two commits.
   *
   * @returns the ids of the rows rewritten; a row that changed since it was read, or was deleted,
   *   is not among them and is left as it is.
   */
  async replaceSealedTokensBatch(swaps: readonly SealedTokenSwap[]): Promise<Set<string>> {
    const swapped = new Set<string>();
    const { connection } = this.repository.manager;
    for (let start = 0; start < swaps.length; start += MAX_SWAPS_PER_STATEMENT) {
      const chunk = swaps.slice(start, start + MAX_SWAPS_PER_STATEMENT);
      const rewritten =
        connection.options.type === 'better-sqlite3'
          ? await this.swapOnSqlite(chunk)
          : await this.swapOnServer(connection.options.type as SwapDialect, chunk);
      rewritten.forEach((id) => swapped.add(id));
    }
    return swapped;
  }

  /** One commit of {@link replaceSealedTokensBatch} on SQLite. */
  private async swapOnSqlite(chunk: readonly SealedTokenSwap[]): Promise<string[]> {
    const db = sqliteHandleOf(this.repository.manager.connection);
    // Another caller's transaction on the shared connection (TypeORM's `transaction()`, between
    // its awaits): let it end rather than join it.
    while (db.inTransaction) {
      await sleep(SQLITE_OPEN_TRANSACTION_POLL_MS);
    }
    const statement = this.sqliteSwapStatement(db);
    let failed: SealedTokenSwap | undefined;
    try {
      return db
        .transaction(() =>
          chunk
            .filter((swap) => {
              failed = swap;
              return statement.run(...sqliteRowSwapParameters(swap)).changes === 1;
            })
            .map((swap) => swap.id),
        )
        .immediate();
    } catch (error) {
      // Shaped as TypeORM's own failures, so that the repo's guard (`DatabaseRepo`) redacts the values.
      throw new QueryFailedError(SQLITE_ROW_SWAP_SQL, failed ? sqliteRowSwapParameters(failed) : [], error as Error);
    }
  }

  /** The prepared statement of {@link SQLITE_ROW_SWAP_SQL} on `db`, prepared once per connection. */
  private sqliteSwapStatement(db: SqliteHandle): SqliteStatement {
    if (this.sqliteSwap?.db !== db) {
      this.sqliteSwap = { db, statement: db.prepare(SQLITE_ROW_SWAP_SQL) };
    }
    return this.sqliteSwap.statement;
  }

  /** One commit of {@link replaceSealedTokensBatch} on PostgreSQL or MariaDB/MySQL: one statement. */
  private async swapOnServer(dialect: SwapDialect, chunk: readonly SealedTokenSwap[]): Promise<string[]> {
    const { sql, parameters, returnsIds } = sealedTokenSwapStatement(dialect, chunk);
    const runner = this.repository.manager.connection.createQueryRunner();
    try {
      const result = await runner.query(sql, parameters, true);
      if (returnsIds) {
        return (result.records as { id: string }[]).map((row) => row.id);
      }
      if (result.affected === chunk.length) {
        return chunk.map((swap) => swap.id);
      }
      // No RETURNING: a row holds its new sealed value (a fresh IV every time) only if this wrote it.
      const stored = await this.repository.find({
        select: { id: true, refreshToken: true },
        where: { id: In(chunk.map((swap) => swap.id)) },
      });
      const written = new Map(chunk.map((swap) => [swap.id, swap.refreshToken]));
      return stored.filter((row) => written.get(row.id) === row.refreshToken).map((row) => row.id);
    } finally {
      await runner.release();
    }
  }
}
