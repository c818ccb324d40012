import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The right to refresh the Atlassian OAuth state of one `(platform, tenantId)`, held by one
 * `AtlassianOauthStateRepo.rotate` call at a time across every process sharing the database.
 *
 * The primary key is the state's key, so the database itself refuses a second lease row: taking a
 * free lease is one `INSERT`, taking over an expired one is one `UPDATE ... WHERE expires_at < now`.
 * A row exists only while a refresh is in flight (or until its holder's lease expires, when the
 * holder died); it never holds a token.
 */
@Entity('atlassian_oauth_refresh_lease')
export class AtlassianOauthRefreshLeaseEntity {
  @PrimaryColumn({ type: 'varchar' })
  platform!: string;

  @PrimaryColumn({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  /** Who holds the lease: unique per acquisition, so a release never deletes someone else's lease. */
  @Column({ type: 'varchar' })
  holder!: string;

  /** When the lease lapses and another caller may take it over, even if the holder never released it. */
  @Column({ type: 'datetime', name: 'expires_at' })
  expiresAt!: Date;
}
