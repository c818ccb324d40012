import { Column, Entity, PrimaryColumn } from 'typeorm';

/** What the last refresh of a key ran into: a dead grant, or a failure that may pass. */
export type AtlassianOauthRefreshHealthStatus = 'revoked' | 'failing';

/**
 * How refreshing the Atlassian OAuth state of one `(platform, tenantId)` last failed, shared by
 * every process of the database so that none of them calls Atlassian again for a dead grant or
 * during a cooldown. A key that refreshes fine has no row. It never holds a token.
 *
 * A row applies only to the state it was recorded on: `stateId` and `stateUpdatedAt` are that
 * state's `id` and `updatedAt`. Any new state stored for the key, by whatever path (a reconnect,
 * `upsert`, the CLI's `put`, another process's refresh), has a later `updatedAt`, so the row no
 * longer applies, without any write path having to know about this table.
 */
@Entity('atlassian_oauth_refresh_health')
export class AtlassianOauthRefreshHealthEntity {
  @PrimaryColumn({ type: 'varchar' })
  platform!: string;

  @PrimaryColumn({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  /** `revoked`: Atlassian answered `invalid_grant`; `failing`: a 429, 5xx, timeout, network error or invalid answer. */
  @Column({ type: 'varchar', length: 16 })
  status!: AtlassianOauthRefreshHealthStatus;

  /** The `id` of the state the failure was seen on. */
  @Column({ type: 'varchar', name: 'state_id', length: 36 })
  stateId!: string;

  /** The `updatedAt` of the state the failure was seen on. */
  @Column({ type: 'datetime', name: 'state_updated_at' })
  stateUpdatedAt!: Date;

  /** The kind of failure: `invalid_grant`, or the token endpoint error's `failure` (`server-error`, `timeout`, ...). */
  @Column({ type: 'varchar', length: 32 })
  failure!: string;

  /** The token endpoint's HTTP status, when it answered. */
  @Column({ type: 'int', name: 'http_status', nullable: true })
  httpStatus!: number | null;

  /** Failed refreshes in a row on this state. */
  @Column({ type: 'int' })
  failures!: number;

  @Column({ type: 'datetime', name: 'first_failed_at' })
  firstFailedAt!: Date;

  @Column({ type: 'datetime', name: 'last_failed_at' })
  lastFailedAt!: Date;

  /** `failing` only: no refresh is tried before this (the cooldown, or the server's `Retry-After` if longer). */
  @Column({ type: 'datetime', name: 'retry_at', nullable: true })
  retryAt!: Date | null;
}
