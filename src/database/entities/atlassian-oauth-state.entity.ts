import { Column, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';

/**
 * The newest Atlassian OAuth 2.0 (3LO) token state of one `(platform, tenantId)`.
 *
 * Atlassian rotates refresh tokens on every refresh, so exactly one row per key holds the only
 * refresh token that still works. The unique constraint makes the database itself refuse a second
 * row for a key.
 */
@Entity('atlassian_oauth_state')
@Unique(['platform', 'tenantId'])
export class AtlassianOauthStateEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar' })
  platform!: string;

  @Column({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  @Column({ type: 'text', nullable: true })
  accessToken!: string | null;

  @Column({ type: 'text' })
  refreshToken!: string;

  @Column({ type: 'datetime', name: 'expires_at', nullable: true })
  expiresAt!: Date | null;

  @UpdateDateColumn()
  updatedAt!: Date;
}
