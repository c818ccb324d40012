import { inspect, InspectOptionsStylized } from 'node:util';
import { Column, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';

/** The table that holds {@link AtlassianOauthStateEntity}; token ciphertexts are bound to it. */
export const ATLASSIAN_OAUTH_STATE_TABLE = 'atlassian_oauth_state';

/** What `util.inspect` and `JSON.stringify` show in place of a token. */
export const REDACTED = '[redacted]';

/**
 * The newest Atlassian OAuth 2.0 (3LO) token state of one `(platform, tenantId)`.
 *
 * Atlassian rotates refresh tokens on every refresh, so exactly one row per key holds the only
 * refresh token that still works. The unique constraint makes the database itself refuse a second
 * row for a key.
 *
 * The tokens are secrets: `util.inspect` (so `console.log`) and `JSON.stringify` show
 * {@link REDACTED} in place of `accessToken` and `refreshToken` (a `null` access token stays
 * `null`). The properties themselves read normally.
 */
@Entity(ATLASSIAN_OAUTH_STATE_TABLE)
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

/** The entity with both tokens replaced by {@link REDACTED}; a `null` access token stays `null`. */
function redacted(entity: AtlassianOauthStateEntity): Record<string, unknown> {
  return {
    ...entity,
    accessToken: entity.accessToken === null || entity.accessToken === undefined ? entity.accessToken : REDACTED,
    refreshToken: entity.refreshToken === undefined ? undefined : REDACTED,
  };
}

// Defined on the prototype, not as class members, so that the entity's type stays its columns:
// plain objects with those fields remain assignable to it.
Object.defineProperties(AtlassianOauthStateEntity.prototype, {
  toJSON: {
    value(this: AtlassianOauthStateEntity): Record<string, unknown> {
      return redacted(this);
    },
  },
  [inspect.custom]: {
    value(this: AtlassianOauthStateEntity, _depth: number, options: InspectOptionsStylized): string {
      return `${AtlassianOauthStateEntity.name} ${inspect(redacted(this), options)}`;
    },
  },
});
