import { Logger } from '@nestjs/common';
import { AtlassianOauthRefreshHealthEntity, AtlassianOauthStateEntity } from '../../database/entities';
import { AtlassianOauthRefreshHealthRepo } from '../atlassian-oauth-refresh-health.repo';
import {
  AtlassianOauthRefreshBasis,
  AtlassianOauthTokens,
  describeStateKey,
  isValidFor,
} from '../atlassian-oauth-state.types';
import {
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
} from '../client/atlassian-oauth-client.errors';
import { AtlassianOauthEventPublisher } from '../events/atlassian-oauth-event.publisher';
import {
  ATLASSIAN_EVENTS,
  AtlassianGrantRevokedEvent,
  AtlassianRefreshFailingEvent,
} from '../events/atlassian-oauth.events';
import { cooldownAfter, recordedOn } from './refresh-health.rules';

/** What a refresh of a grant is for: decided on the stored state before the lease, and again under it. */
export interface AtlassianOauthGrantRefresh {
  /** The access token returned stays valid at least this long (ms). */
  readonly minValidityMs: number;
  /**
   * An access token Atlassian refused (a 401, or a dead token behind a 403/404): refreshed even
   * though it has not expired, unless the stored access token is already another one.
   */
  readonly refused?: string;
  /** Keep-alive: refresh the state only while it was last written before this, whatever its expiry. */
  readonly idleBefore?: Date;
  /** The wait after a transient failure (`ATLASSIAN_REFRESH_COOLDOWN_MS`), unless the server's `Retry-After` says otherwise. */
  readonly cooldownMs: number;
}

/** The token endpoint a grant is refreshed at: `AtlassianOauthClient`. */
export interface AtlassianOauthTokenEndpoint {
  refresh(refreshToken: string): Promise<AtlassianOauthTokens>;
}

/** How {@link AtlassianOauthRotationService.refreshGrant} ended. */
export type AtlassianOauthGrantRefreshResult =
  /** This call refreshed the grant and stored the result (or keeps it in memory until the database answers). */
  | {
      readonly outcome: 'refreshed';
      readonly state: AtlassianOauthStateEntity;
      /** The failures in a row this refresh ended, if the state had any recorded. */
      readonly recovered: AtlassianOauthRefreshHealthEntity | null;
    }
  /** No refresh was needed (any more): another caller, in any process, had refreshed it. */
  | { readonly outcome: 'current'; readonly state: AtlassianOauthStateEntity }
  /**
   * No new state: the recorded failure of the state still applies (`reachedEndpoint` false), or the
   * token endpoint failed now (recorded before the lease was released). `from` is the state that
   * was to be refreshed.
   */
  | {
      readonly outcome: 'failed';
      readonly error: unknown;
      readonly from: AtlassianOauthStateEntity;
      readonly reachedEndpoint: boolean;
    };

/** Whether `state` needs the refresh `need` asks for: the one place this is decided, before the lease and under it. */
export function needsRefresh(state: AtlassianOauthStateEntity, need: AtlassianOauthGrantRefresh): boolean {
  if (need.idleBefore !== undefined) {
    return state.updatedAt.getTime() < need.idleBefore.getTime();
  }
  return state.accessToken === null || state.accessToken === need.refused || !isValidFor(state, need.minValidityMs);
}

/**
 * Records a failed refresh in the key's refresh health, so that no caller in any process sends a
 * second request inside the cooldown, and tells the host once per change (`grant.revoked`,
 * `refresh.failing`). The key's previous row comes from the read the refresh started from.
 */
export class RefreshFailureRecorder {
  constructor(
    private readonly health: AtlassianOauthRefreshHealthRepo,
    private readonly logger: Logger,
    private readonly events?: AtlassianOauthEventPublisher,
  ) {}

  /** Records `error` when it is the endpoint's answer (a revocation or a transient failure); never throws. */
  async record(basis: AtlassianOauthRefreshBasis, error: unknown, cooldownMs: number): Promise<void> {
    try {
      if (error instanceof AtlassianOauthGrantRevokedError) {
        await this.save(basis, 'revoked', 'invalid_grant', null, null);
      } else if (error instanceof AtlassianOauthTokenEndpointError) {
        const retryAt = new Date(Date.now() + cooldownAfter(error, cooldownMs));
        await this.save(basis, 'failing', error.failure, error.status, retryAt);
      }
    } catch (recordError) {
      const { platform, tenantId } = basis.state;
      this.logger.warn(
        `Could not record the failed refresh of ${describeStateKey(platform, tenantId)}: ` +
          `${recordError instanceof Error ? recordError.name : 'unknown error'}`,
      );
    }
  }

  private async save(
    { state, health: previous }: AtlassianOauthRefreshBasis,
    status: AtlassianOauthRefreshHealthEntity['status'],
    failure: string,
    httpStatus: number | null,
    retryAt: Date | null,
  ): Promise<void> {
    const again = previous !== null && recordedOn(previous, state);
    const sameStatus = again && previous.status === status;
    const now = new Date();
    await this.health.save(
      Object.assign(new AtlassianOauthRefreshHealthEntity(), {
        platform: state.platform,
        tenantId: state.tenantId,
        status,
        stateId: state.id,
        stateUpdatedAt: state.updatedAt,
        failure,
        httpStatus,
        failures: again ? previous.failures + 1 : 1,
        firstFailedAt: again ? previous.firstFailedAt : now,
        lastFailedAt: now,
        retryAt,
      }),
    );
    // Once per change: a failure in a row on the same state, or a second revocation, is no news.
    if (sameStatus) {
      return;
    }
    if (status === 'revoked') {
      this.events?.emit(
        ATLASSIAN_EVENTS.grantRevoked,
        new AtlassianGrantRevokedEvent(state.platform, state.tenantId, now),
      );
    } else {
      this.events?.emit(
        ATLASSIAN_EVENTS.refreshFailing,
        new AtlassianRefreshFailingEvent(state.platform, state.tenantId, failure, httpStatus, retryAt, now),
      );
    }
  }
}
