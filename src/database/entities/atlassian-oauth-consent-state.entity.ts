import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A consent in progress: the OAuth `state` handed to Atlassian's authorization page, waiting for
 * the browser to come back to the callback. Single use and short-lived: the callback deletes it,
 * and only a delete that the database reports as done (one row, not yet expired) lets the code
 * exchange go ahead, so a state works once even when two callbacks race.
 *
 * The `state` itself is not stored, only its SHA-256: a copy of the table cannot be used to
 * complete someone's consent. No token is ever stored here.
 */
@Entity('atlassian_oauth_consent_state')
export class AtlassianOauthConsentStateEntity {
  /** SHA-256 of the state, 64 lowercase hex digits. */
  @PrimaryColumn({ type: 'varchar', name: 'state_hash', length: 64 })
  stateHash!: string;

  @Column({ type: 'varchar' })
  platform!: string;

  @Column({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  /** Where the browser goes when the consent ends, already checked against the allow-list. */
  @Column({ type: 'text', name: 'return_to' })
  returnTo!: string;

  /** After this the state is refused, and the row may be purged. */
  @Index()
  @Column({ type: 'datetime', name: 'expires_at' })
  expiresAt!: Date;
}
