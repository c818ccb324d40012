import { AtlassianOauthRefreshHealthEntity } from '../../database/entities';
import { AtlassianOauthStateSummary, stateKeyId } from '../atlassian-oauth-state.types';

/**
 * How refreshing a stored state goes, as an operator needs to know it: `ok`, refreshing fails
 * (it may pass: Atlassian down or rate limiting), or the grant is revoked and the tenant must
 * consent again (a reconnect).
 */
export type AtlassianOauthRefreshHealth =
  | { readonly status: 'ok' }
  | {
      readonly status: 'failing';
      /** The first failure in a row on this state. */
      readonly since: Date;
      /** Failed refreshes in a row on this state. */
      readonly attempts: number;
      /** `server-error`, `rate-limited`, `timeout`, `network`, `invalid-response`. */
      readonly failure: string;
    }
  | {
      readonly status: 'revoked';
      /** When Atlassian last answered `invalid_grant` for this state: the revocation, not an earlier transient failure. */
      readonly since: Date;
    };

/** A stored state's summary with its refresh health. */
export interface AtlassianOauthStateHealthSummary extends AtlassianOauthStateSummary {
  readonly health: AtlassianOauthRefreshHealth;
}

/**
 * The refresh health of a stored state, given its key's health row, if any. A row applies only
 * to the state it was recorded on (same `updatedAt`; every write of a state advances it), so a
 * reconnect or any other write makes the key `ok` again without touching the health table.
 */
export function refreshHealthOf(
  state: Pick<AtlassianOauthStateSummary, 'updatedAt'>,
  row: AtlassianOauthRefreshHealthEntity | undefined,
): AtlassianOauthRefreshHealth {
  if (!row || row.stateUpdatedAt.getTime() !== state.updatedAt.getTime()) {
    return { status: 'ok' };
  }
  if (row.status === 'revoked') {
    return { status: 'revoked', since: row.lastFailedAt };
  }
  return { status: 'failing', since: row.firstFailedAt, attempts: row.failures, failure: row.failure };
}

/** Each summary with its refresh health, from the rows of the health table (in any order). */
export function withRefreshHealth(
  summaries: readonly AtlassianOauthStateSummary[],
  rows: readonly AtlassianOauthRefreshHealthEntity[],
): AtlassianOauthStateHealthSummary[] {
  const byKey = new Map(rows.map((row) => [stateKeyId(row), row]));
  return summaries.map((summary) => ({ ...summary, health: refreshHealthOf(summary, byKey.get(stateKeyId(summary))) }));
}
