import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, MoreThan, Repository } from 'typeorm';
import { AtlassianOauthConsentStateEntity } from '../../database/entities';
import { RedactsQueryFailures } from '../../database/query-failure-redaction';

/** What a consent in progress remembers until the browser comes back. */
export interface AtlassianOauthConsent {
  readonly platform: string;
  readonly tenantId: string;
  /** Where to send the browser afterwards (checked against the allow-list before it is stored). */
  readonly returnTo: string;
}

/** How {@link AtlassianOauthConsentStateRepo.consume} went: only `consumed` may go on to the code exchange. */
export type ConsentStateConsumption =
  | { readonly outcome: 'consumed'; readonly consent: AtlassianOauthConsent }
  /** Never issued, already used, or not even shaped like a state. */
  | { readonly outcome: 'unknown' }
  /** Issued, but its time ran out before the browser came back. */
  | { readonly outcome: 'expired' };

/** Bytes of randomness in a state: 256 bits, so it cannot be guessed. */
const STATE_BYTES = 32;

/** A state as {@link AtlassianOauthConsentStateRepo.create} writes it: 43 base64url characters. */
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * The single-use OAuth `state` values of consents in progress (`atlassian_oauth_consent_state`).
 *
 * Single use is decided by the database: {@link consume} succeeds only if its `DELETE ... WHERE
 * state_hash = ? AND expires_at > now` removed the row, so of two callbacks with one state,
 * whichever process they reach, exactly one gets it.
 */
@Injectable()
export class AtlassianOauthConsentStateRepo {
  constructor(
    @InjectRepository(AtlassianOauthConsentStateEntity)
    private readonly repository: Repository<AtlassianOauthConsentStateEntity>,
  ) {}

  /**
   * Stores a fresh random state (256 bits, base64url) for `consent`, valid until `expiresAt`, and
   * purges states that expired before now (abandoned consents), so the table holds only live ones.
   *
   * @returns the state to put in the authorization URL; only its SHA-256 is stored.
   */
  @RedactsQueryFailures()
  async create(consent: AtlassianOauthConsent, expiresAt: Date): Promise<string> {
    const state = randomBytes(STATE_BYTES).toString('base64url');
    await this.repository.delete({ expiresAt: LessThan(new Date()) });
    await this.repository.insert({
      stateHash: hashState(state),
      platform: consent.platform,
      tenantId: consent.tenantId,
      returnTo: consent.returnTo,
      expiresAt,
    });
    return state;
  }

  /**
   * Takes a state out of the table: whatever the outcome, it cannot be used again.
   *
   * @returns `consumed` with its consent when this call removed a live state; `expired` when it was
   *   stored but its time had run out; `unknown` for anything else (never issued, already consumed,
   *   malformed), so a reused state and a forged one look the same to the caller.
   */
  @RedactsQueryFailures()
  async consume(state: string): Promise<ConsentStateConsumption> {
    if (!STATE_PATTERN.test(state)) {
      return { outcome: 'unknown' };
    }
    const stateHash = hashState(state);
    const row = await this.repository.findOneBy({ stateHash });
    if (!row) {
      return { outcome: 'unknown' };
    }
    const { affected } = await this.repository.delete({ stateHash, expiresAt: MoreThan(new Date()) });
    if (affected === 1) {
      return {
        outcome: 'consumed',
        consent: { platform: row.platform, tenantId: row.tenantId, returnTo: row.returnTo },
      };
    }
    if (row.expiresAt.getTime() <= Date.now()) {
      await this.repository.delete({ stateHash });
      return { outcome: 'expired' };
    }
    return { outcome: 'unknown' };
  }
}

function hashState(state: string): string {
  return createHash('sha256').update(state).digest('hex');
}
