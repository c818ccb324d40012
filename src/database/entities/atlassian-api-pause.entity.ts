import { Column, Entity, PrimaryColumn } from 'typeorm';

/** What a pause holds back: every call of the app on a platform, or one tenant's calls. */
export type AtlassianApiPauseScope = 'app' | 'tenant';

/**
 * A pause of calls to Atlassian's REST APIs, shared by every process of the database: Atlassian
 * answered 429 for the app-wide quota (`scope` `app`, `tenantId` empty) or for one tenant's quota
 * (`scope` `tenant`), and nothing of that scope is sent before `pausedUntil`. A row whose
 * `pausedUntil` has passed means nothing; the next pause of the same scope overwrites it. It never
 * holds a token.
 */
@Entity('atlassian_api_pause')
export class AtlassianApiPauseEntity {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  scope!: AtlassianApiPauseScope;

  @PrimaryColumn({ type: 'varchar' })
  platform!: string;

  /** The tenant of a `tenant` pause; empty for an `app` pause. */
  @PrimaryColumn({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  /** No call of the scope is sent before this. */
  @Column({ type: 'datetime', name: 'paused_until' })
  pausedUntil!: Date;

  /** Atlassian's `RateLimit-Reason` (e.g. `jira-quota-global-based`), or `unknown`. */
  @Column({ type: 'varchar', length: 64 })
  reason!: string;

  /** When the 429 that set the pause was received. */
  @Column({ type: 'datetime', name: 'paused_at' })
  pausedAt!: Date;
}
