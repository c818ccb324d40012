/**
 * What the host service hears about its customers' Atlassian grants, through `@nestjs/event-emitter`
 * (subscribe with `@OnEvent(ATLASSIAN_EVENTS.grantRevoked)`). Each event is emitted once per change,
 * in the process that saw the change, after it was stored; none carries a token, a code or a secret.
 */
export const ATLASSIAN_EVENTS = {
  /** A consent's code was exchanged and its tokens stored (a first connect or a reconnect): {@link AtlassianGrantConnectedEvent}. */
  grantConnected: 'atlassian.grant.connected',
  /** Atlassian answered `invalid_grant` to a refresh: the customer must connect again. {@link AtlassianGrantRevokedEvent}. */
  grantRevoked: 'atlassian.grant.revoked',
  /** The key's state was deleted (`AtlassianOauthStateRepo.delete`, the CLI's `delete`): {@link AtlassianGrantDisconnectedEvent}. */
  grantDisconnected: 'atlassian.grant.disconnected',
  /** The first transient refresh failure after a success (429, 5xx, timeout, network): {@link AtlassianRefreshFailingEvent}. */
  refreshFailing: 'atlassian.refresh.failing',
  /** The first successful refresh after failing ones: {@link AtlassianRefreshRecoveredEvent}. */
  refreshRecovered: 'atlassian.refresh.recovered',
  /** The sites (cloud ids) a grant reaches changed: {@link AtlassianSitesChangedEvent}. */
  sitesChanged: 'atlassian.sites.changed',
} as const;

/** The name of one of the {@link ATLASSIAN_EVENTS}. */
export type AtlassianEventName = (typeof ATLASSIAN_EVENTS)[keyof typeof ATLASSIAN_EVENTS];

/** What every event about one grant says: whose grant, and when the change was seen. */
export abstract class AtlassianGrantEvent {
  constructor(
    readonly platform: string,
    readonly tenantId: string,
    /** When this process saw the change. */
    readonly occurredAt: Date = new Date(),
  ) {}
}

/** `atlassian.grant.connected`: tokens of a consent were stored for the key (any earlier state replaced). */
export class AtlassianGrantConnectedEvent extends AtlassianGrantEvent {}

/**
 * `atlassian.grant.revoked`: Atlassian refused the refresh token (`invalid_grant`): the customer
 * removed the app, the grant expired (90 days unused, 365 days at most), or a rotated-past token was
 * reused. Every `accessToken` of the key rejects with `AtlassianOauthGrantRevokedError` until the
 * customer connects again; tell them to reconnect.
 */
export class AtlassianGrantRevokedEvent extends AtlassianGrantEvent {}

/** `atlassian.grant.disconnected`: the key's state was deleted; its tokens are gone from the store. */
export class AtlassianGrantDisconnectedEvent extends AtlassianGrantEvent {}

/**
 * `atlassian.refresh.failing`: a refresh failed transiently after the key's last refresh had
 * succeeded. Further failures in a row emit nothing; {@link AtlassianRefreshRecoveredEvent} or
 * {@link AtlassianGrantRevokedEvent} ends the episode.
 */
export class AtlassianRefreshFailingEvent extends AtlassianGrantEvent {
  constructor(
    platform: string,
    tenantId: string,
    /** `rate-limited`, `server-error`, `timeout`, `network`, `invalid-response`, `rejected`. */
    readonly failure: string,
    /** The token endpoint's HTTP status, or `null` when no answer came. */
    readonly httpStatus: number | null,
    /** When the next refresh of the key may be tried (the cooldown), or `null`. */
    readonly retryAt: Date | null,
    occurredAt?: Date,
  ) {
    super(platform, tenantId, occurredAt);
  }
}

/** `atlassian.refresh.recovered`: a refresh succeeded after the key's refreshes had failed. */
export class AtlassianRefreshRecoveredEvent extends AtlassianGrantEvent {
  constructor(
    platform: string,
    tenantId: string,
    /** The first failure of the episode that ended. */
    readonly failingSince: Date,
    /** Failed refreshes in a row before this success. */
    readonly failures: number,
    occurredAt?: Date,
  ) {
    super(platform, tenantId, occurredAt);
  }
}

/**
 * `atlassian.sites.changed`: the set of sites (Atlassian cloud ids, from `accessible-resources`) that a
 * grant reaches changed, e.g. the customer admitted the app to another site, or removed one. Emitted by
 * `connect` and `AtlassianSitesService.refreshSites` when what they read differs from what was
 * stored; the first lookup of a key counts every site as `added`.
 */
export class AtlassianSitesChangedEvent extends AtlassianGrantEvent {
  constructor(
    platform: string,
    tenantId: string,
    /** Every cloud id the grant reaches now, sorted. */
    readonly cloudIds: readonly string[],
    /** Cloud ids reached now and not before, sorted. */
    readonly added: readonly string[],
    /** Cloud ids reached before and not now, sorted. */
    readonly removed: readonly string[],
    occurredAt?: Date,
  ) {
    super(platform, tenantId, occurredAt);
  }
}
