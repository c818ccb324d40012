import { Injectable, Optional } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, MoreThan, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../../database/database-outage.monitor';
import { AtlassianOauthStateEntity } from '../../database/entities';
import { RedactsQueryFailures } from '../../database/query-failure-redaction';
import { AgentCoreMetrics } from '../../metrics/agent-core-metrics';
import { MeasuredStoreCall } from '../../metrics/measured-store-call';
import { TokenColumns } from '../atlassian-oauth-token-sealer';
import { SealedTokenSwap, sealedTokenSwapStatement, SwapDialect } from '../sealed-token-swap.sql';

/**
 * Rows per statement of {@link AtlassianOauthSealedStateRepo.replaceSealedTokensBatch}: 5,000 bound
 * values on SQLite and PostgreSQL, 7,000 on MariaDB/MySQL, far below every engine's limit.
 */
export const MAX_SWAPS_PER_STATEMENT = 1_000;

/**
 * The state rows as they are stored, tokens still sealed: what re-encryption reads and swaps.
 * Everything else reads and writes plaintext through `AtlassianOauthStateRepo`; only
 * `AtlassianOauthReencryptionService` needs the stored form, so it lives apart from the plan's store.
 */
@Injectable()
export class AtlassianOauthSealedStateRepo {
  constructor(
    @InjectRepository(AtlassianOauthStateEntity)
    private readonly repository: Repository<AtlassianOauthStateEntity>,
    /** Turns outages into `DatabaseUnavailableError` and logs them (see `@RedactsQueryFailures`). */
    readonly outages: DatabaseOutageMonitor,
    /** The application's metrics when it serves them: each public method's duration is recorded. */
    @Optional() readonly metrics?: AgentCoreMetrics,
  ) {}

  /** Counts the stored rows. */
  @RedactsQueryFailures()
  async count(): Promise<number> {
    return this.repository.count();
  }

  /**
   * Up to `limit` rows as stored (tokens still sealed), in `id` order after `afterId` (from the
   * first row when `undefined`): keyset pagination, so a walk over the whole table keeps memory
   * flat and never skips or repeats a row when others are inserted or deleted meanwhile. For
   * re-encryption, which must see the stored form; everyone else reads with `AtlassianOauthStateRepo.get`.
   */
  @RedactsQueryFailures()
  @MeasuredStoreCall()
  async findSealedPage(afterId: string | undefined, limit: number): Promise<AtlassianOauthStateEntity[]> {
    return this.repository.find({
      where: afterId === undefined ? {} : { id: MoreThan(afterId) },
      order: { id: 'ASC' },
      take: limit,
    });
  }

  /** One row as stored (tokens still sealed), or `null` when it was deleted. */
  @RedactsQueryFailures()
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
  @RedactsQueryFailures()
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
   * {@link replaceSealedTokens} for many rows at once: one `UPDATE` per up to
   * {@link MAX_SWAPS_PER_STATEMENT} rows, each row rewritten only while both its stored token
   * values are still the ones in `swaps` (see `sealedTokenSwapStatement`). Each statement is
   * atomic and its own commit, so a batch costs one fsync, not one per row.
   *
   * On SQLite the statement runs on TypeORM's one shared connection without a transaction around
   * it: better-sqlite3 runs it synchronously, so no other write of this process can land inside
   * it, and it holds the write lock only while it runs. (A batch `BEGIN ... COMMIT` there would
   * instead take in whatever else this process wrote between its statements; a second connection
   * would make this process's own writes wait on the lock. Neither is needed for one statement.)
   *
   * @returns the ids of the rows rewritten; a row that changed since it was read, or was deleted,
   *   is not among them and is left as it is.
   */
  @RedactsQueryFailures()
  async replaceSealedTokensBatch(swaps: readonly SealedTokenSwap[]): Promise<Set<string>> {
    const swapped = new Set<string>();
    const dialect = this.repository.manager.connection.options.type as SwapDialect;
    for (let start = 0; start < swaps.length; start += MAX_SWAPS_PER_STATEMENT) {
      const chunk = swaps.slice(start, start + MAX_SWAPS_PER_STATEMENT);
      const { sql, parameters, returnsIds } = sealedTokenSwapStatement(dialect, chunk);
      const runner = this.repository.manager.connection.createQueryRunner();
      try {
        const result = await runner.query(sql, parameters, true);
        if (returnsIds) {
          for (const row of result.records as { id: string }[]) {
            swapped.add(row.id);
          }
        } else if (result.affected === chunk.length) {
          chunk.forEach((swap) => swapped.add(swap.id));
        } else {
          // No RETURNING: a row holds its new sealed value (a fresh IV every time) only if this wrote it.
          const stored = await this.repository.find({
            select: { id: true, refreshToken: true },
            where: { id: In(chunk.map((swap) => swap.id)) },
          });
          const written = new Map(chunk.map((swap) => [swap.id, swap.refreshToken]));
          stored.filter((row) => written.get(row.id) === row.refreshToken).forEach((row) => swapped.add(row.id));
        }
      } finally {
        await runner.release();
      }
    }
    return swapped;
  }
}
