import { Injectable, Logger } from '@nestjs/common';
import { AtlassianOauthStateEntity } from '../../database/entities';
import { RedactsQueryFailures } from '../../database/query-failure-redaction';
import { TokenEncryptionConfigError } from '../../token-cipher/token-cipher.errors';
import { AtlassianOauthSealedStateRepo } from '../atlassian-oauth-sealed-state.repo';
import { ReencryptCounts, ReencryptOptions, describeStateKey } from '../atlassian-oauth-state.types';
import { validateReencryptOptions } from '../atlassian-oauth-state.validation';
import { AtlassianOauthTokenSealer } from '../atlassian-oauth-token-sealer';
import { SealedTokenSwap } from './sealed-token-swap.sql';
import { RowReencryption, planRowReencryption } from './row-reencryption';

/** How often a row that a concurrent writer keeps changing is read again before it counts as failed. */
const RACE_ATTEMPTS = 5;

type ReencryptOutcome = keyof ReencryptCounts | 'deleted';

/**
 * Moves every stored token under the active key of `OAUTH_STATE_ENCRYPTION_KEYS` (after a key
 * rotation, or to seal legacy plaintext rows), reading and writing through
 * {@link AtlassianOauthSealedStateRepo}, which sees the stored (sealed) form. Inject it through `AtlassianModule`; the CLI's `reencrypt`
 * runs it.
 */
@Injectable()
export class AtlassianOauthReencryptionService {
  private readonly logger = new Logger(AtlassianOauthReencryptionService.name);

  constructor(
    private readonly states: AtlassianOauthSealedStateRepo,
    private readonly sealer: AtlassianOauthTokenSealer,
  ) {}

  /**
   * Rewrites every row whose tokens are not yet sealed under the active key (the first of
   * `OAUTH_STATE_ENCRYPTION_KEYS`): rows under an older key, and legacy plaintext rows while
   * `OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true` (counted apart, as `legacyPlaintext`; without that
   * setting a plaintext row is refused as tampered with and counts as `failed`). Run it after
   * putting a new key first in the ring; afterwards the old key can be removed.
   *
   * - It reads the table in batches of `batchSize` rows in `id` order (keyset pagination), so
   *   memory stays flat however large the table is.
   * - Each batch is written back by one compare-and-swap `UPDATE` (one commit) that rewrites a
   *   row only while both its stored token values are still the ones read. A token that a
   *   concurrent writer changed meanwhile is never overwritten: that row is read again, alone,
   *   and is usually already current.
   * - `updatedAt` is kept: the token state itself did not change.
   * - It is idempotent and safe to re-run after a crash: every row is either fully rewritten or
   *   untouched, and a re-run counts finished rows as `alreadyCurrent`.
   * - A row that cannot be opened (`TokenIntegrityError`, `UnknownTokenKeyError`) is counted as
   *   `failed`, logged with its key quoted escaped (never a token) and left as it was; the run goes on.
   *
   * @returns how many rows were sealed, sealed from plaintext, already current, and failed.
   * @throws TokenEncryptionConfigError when no keys are configured (there is nothing to seal with).
   * @throws AtlassianOauthStateValidationError when `batchSize` is not a positive integer or
   *   `onProgress` is not a function, before anything is read.
   */
  @RedactsQueryFailures()
  async reencryptAll(options: ReencryptOptions = {}): Promise<ReencryptCounts> {
    const { batchSize, onProgress } = validateReencryptOptions(options);
    if (!this.sealer.encrypts) {
      throw new TokenEncryptionConfigError(
        'reencryptAll needs OAUTH_STATE_ENCRYPTION_KEYS: without a key there is nothing to seal with.',
      );
    }
    const counts: ReencryptCounts = { sealed: 0, legacyPlaintext: 0, alreadyCurrent: 0, failed: 0 };
    const total = await this.states.count();
    let processed = 0;
    let lastId: string | undefined;
    for (;;) {
      const batch = await this.states.findSealedPage(lastId, batchSize);
      if (batch.length === 0) {
        return counts;
      }
      for (const outcome of await this.reencryptPage(batch)) {
        if (outcome !== 'deleted') {
          counts[outcome]++;
          processed++;
        }
      }
      lastId = batch[batch.length - 1]?.id;
      onProgress?.({ ...counts, processed, total });
    }
  }

  /**
   * Brings one page of stored rows under the active key: every row that needs it is resealed and
   * the page is written back with one batch compare-and-swap (one commit per page instead of one
   * per row). A row the batch did not rewrite had changed since the page was read, or is gone: it
   * takes the one-row path, which reads it again.
   */
  private async reencryptPage(page: readonly AtlassianOauthStateEntity[]): Promise<ReencryptOutcome[]> {
    const outcomes = new Map<string, ReencryptOutcome>();
    // The outcome a row gets when the batch rewrites it: `sealed` or `legacyPlaintext`.
    const swappedOutcomes = new Map<string, ReencryptOutcome>();
    const swaps: SealedTokenSwap[] = [];
    for (const row of page) {
      const plan = this.plan(row);
      if (plan.outcome === 'alreadyCurrent' || plan.outcome === 'failed') {
        outcomes.set(row.id, plan.outcome);
        continue;
      }
      swappedOutcomes.set(row.id, plan.outcome);
      swaps.push({
        id: row.id,
        storedAccessToken: row.accessToken,
        storedRefreshToken: row.refreshToken,
        accessToken: plan.resealed.accessToken,
        refreshToken: plan.resealed.refreshToken,
      });
    }
    const swapped = swaps.length > 0 ? await this.states.replaceSealedTokensBatch(swaps) : new Set<string>();
    const outcomeOf = async (row: AtlassianOauthStateEntity): Promise<ReencryptOutcome> =>
      outcomes.get(row.id) ??
      (swapped.has(row.id) ? (swappedOutcomes.get(row.id) ?? 'sealed') : this.reencryptRow(row));
    const result: ReencryptOutcome[] = [];
    for (const row of page) {
      result.push(await outcomeOf(row));
    }
    return result;
  }

  /** {@link planRowReencryption} for one row, with a row that cannot be opened logged by its key (never a token). */
  private plan(row: AtlassianOauthStateEntity): RowReencryption {
    const plan = planRowReencryption(this.sealer, row);
    if (plan.outcome === 'failed') {
      this.logger.warn(`reencryptAll left ${describeStateKey(row.platform, row.tenantId)} as it was: ${plan.reason}`);
    }
    return plan;
  }

  /** Brings one stored row under the active key with a compare-and-swap on its raw token values. */
  private async reencryptRow(row: AtlassianOauthStateEntity): Promise<ReencryptOutcome> {
    let current: AtlassianOauthStateEntity | null = row;
    for (let attempt = 1; attempt <= RACE_ATTEMPTS && current; attempt++) {
      const plan = this.plan(current);
      if (plan.outcome === 'alreadyCurrent' || plan.outcome === 'failed') {
        return plan.outcome;
      }
      if (await this.states.replaceSealedTokens(current, plan.resealed)) {
        return plan.outcome;
      }
      current = await this.states.findSealedById(current.id);
    }
    if (!current) {
      return 'deleted';
    }
    this.logger.warn(
      `reencryptAll left ${describeStateKey(current.platform, current.tenantId)} as it was: it kept changing under ${RACE_ATTEMPTS} attempts`,
    );
    return 'failed';
  }
}
