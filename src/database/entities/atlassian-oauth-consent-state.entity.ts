import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A consent in progress, in two steps.
 *
 * 1. Started (`browser_hash` null): `state_hash` holds the SHA-256 of the start link's `flow`
 *    value, waiting for the first browser to open `/atlassian/authorize?flow=...`.
 * 2. Bound to that browser: one update, which only a row still in step 1 and not expired takes,
 *    replaces `state_hash` by the SHA-256 of the OAuth `state` handed to Atlassian and sets
 *    `browser_hash` to the SHA-256 of the secret in the browser's cookie. The callback then
 *    completes only with that cookie, and deletes the row: only a delete that the database reports
 *    as done lets the code exchange go ahead, so a state works once even when two callbacks race.
 *
 * Neither the flow, the state nor the cookie is stored, only their SHA-256: a copy of the table
 * cannot be used to complete someone's consent. No token is ever stored here.
 */
@Entity('atlassian_oauth_consent_state')
export class AtlassianOauthConsentStateEntity {
  /** SHA-256 of the state (of the start link's flow until a browser opened it), 64 lowercase hex digits. */
  @PrimaryColumn({ type: 'varchar', name: 'state_hash', length: 64 })
  stateHash!: string;

  @Column({ type: 'varchar' })
  platform!: string;

  @Column({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  /** Where the browser goes when the consent ends, already checked against the allow-list. */
  @Column({ type: 'text', name: 'return_to' })
  returnTo!: string;

  /** The scopes to ask Atlassian for, separated by a space (each already checked: no space inside). */
  @Column({ type: 'text' })
  scopes!: string;

  /** SHA-256 of the consent cookie of the browser that opened the start link; null until one did. */
  @Column({ type: 'varchar', name: 'browser_hash', length: 64, nullable: true })
  browserHash!: string | null;

  /** After this the state is refused, and the row may be purged. */
  @Index()
  @Column({ type: 'datetime', name: 'expires_at' })
  expiresAt!: Date;
}
