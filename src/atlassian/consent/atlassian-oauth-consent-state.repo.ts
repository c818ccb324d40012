import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThan, MoreThan, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../../database/database-outage.monitor';
import { DatabaseRepo } from '../../database/database-repo';
import { AtlassianOauthConsentStateEntity } from '../../database/entities';

/** What a consent in progress remembers until the browser comes back. */
export interface AtlassianOauthConsent {
  readonly platform: string;
  readonly tenantId: string;
  /** Where to send the browser afterwards (checked against the allow-list before it is stored). */
  readonly returnTo: string;
  /** The scopes to ask Atlassian for (checked: Atlassian's scope syntax). */
  readonly scopes: readonly string[];
}

/** How {@link AtlassianOauthConsentStateRepo.bind} went: only `bound` may go on to Atlassian. */
export type ConsentBinding =
  | { readonly outcome: 'bound'; readonly state: string; readonly consent: AtlassianOauthConsent }
  /** Never issued, already opened by a browser, or not even shaped like a flow. */
  | { readonly outcome: 'unknown' }
  /** Issued, but not opened in time. */
  | { readonly outcome: 'expired' };

/** How {@link AtlassianOauthConsentStateRepo.consume} went: only `consumed` may go on to the code exchange. */
export type ConsentStateConsumption =
  | { readonly outcome: 'consumed'; readonly consent: AtlassianOauthConsent }
  /** Never issued, already used, or not even shaped like a state. */
  | { readonly outcome: 'unknown' }
  /** Issued, but its time ran out before the browser came back. */
  | { readonly outcome: 'expired' }
  /** Live, but the browser does not hold the cookie of the one that opened the start link: the state stays. */
  | { readonly outcome: 'other-browser' };

/** Bytes of randomness in a flow, a state and a browser secret: 256 bits, so none can be guessed. */
export const SECRET_BYTES = 32;

/** A flow, a state or a browser secret as this repo and its service make them: 43 base64url characters. */
export const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh 256-bit random value, base64url: a flow, a state or a browser secret. */
export function randomSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/**
 * The consents in progress (`atlassian_oauth_consent_state`): a start link's single-use `flow`,
 * then the OAuth `state` bound to the browser that opened it.
 *
 * Single use is decided by the database: {@link bind} succeeds only if its `UPDATE ... WHERE
 * state_hash = ? AND browser_hash IS NULL AND expires_at > now` changed the row, so of two browsers
 * opening one start link exactly one gets it; {@link consume} succeeds only if its `DELETE ... WHERE
 * state_hash = ? AND browser_hash = ? AND expires_at > now` removed the row, so of two callbacks
 * with one state, whichever process they reach, exactly one gets it. Only SHA-256 digests of the
 * flow, the state and the browser secret are stored.
 */
@Injectable()
export class AtlassianOauthConsentStateRepo extends DatabaseRepo {
  constructor(
    @InjectRepository(AtlassianOauthConsentStateEntity)
    private readonly repository: Repository<AtlassianOauthConsentStateEntity>,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
  ) {
    super(outages);
  }

  /**
   * Stores a consent waiting for a browser, valid until `expiresAt`, and purges rows that expired
   * before now (abandoned consents), so the table holds only live ones.
   *
   * @returns the flow to put in the start link (256 bits, base64url); only its SHA-256 is stored.
   */
  async create(consent: AtlassianOauthConsent, expiresAt: Date): Promise<string> {
    const flow = randomSecret();
    await this.repository.delete({ expiresAt: LessThan(new Date()) });
    await this.repository.insert({
      stateHash: sha256(flow),
      platform: consent.platform,
      tenantId: consent.tenantId,
      returnTo: consent.returnTo,
      scopes: consent.scopes.join(' '),
      browserHash: null,
      expiresAt,
    });
    return flow;
  }

  /**
   * Binds the consent of `flow` to the browser holding `browserSecret`, once: the flow is replaced
   * by a fresh OAuth state, valid until `expiresAt`, and cannot be opened again.
   *
   * @returns `bound` with the state and the consent; `expired` when the flow was not opened in
   *   time (its row is removed); `unknown` for anything else (never issued, already opened,
   *   malformed), so a reused flow and a forged one look the same to the caller.
   */
  async bind(flow: string, browserSecret: string, expiresAt: Date): Promise<ConsentBinding> {
    if (!SECRET_PATTERN.test(flow)) {
      return { outcome: 'unknown' };
    }
    const flowHash = sha256(flow);
    const row = await this.repository.findOneBy({ stateHash: flowHash, browserHash: IsNull() });
    if (!row) {
      return { outcome: 'unknown' };
    }
    const state = randomSecret();
    const { affected } = await this.repository.update(
      { stateHash: flowHash, browserHash: IsNull(), expiresAt: MoreThan(new Date()) },
      { stateHash: sha256(state), browserHash: sha256(browserSecret), expiresAt },
    );
    if (affected === 1) {
      return { outcome: 'bound', state, consent: consentOf(row) };
    }
    if (row.expiresAt.getTime() <= Date.now()) {
      await this.repository.delete({ stateHash: flowHash, browserHash: IsNull() });
      return { outcome: 'expired' };
    }
    return { outcome: 'unknown' };
  }

  /**
   * Takes a state out of the table when `browserSecret` is the cookie of the browser it was bound
   * to: then, whatever the outcome, it cannot be used again.
   *
   * @returns `consumed` with its consent when this call removed a live state; `expired` when it was
   *   stored but its time had run out (the row is removed); `other-browser` when it is live but the
   *   browser secret is missing or another one (the row stays, for the browser that holds it);
   *   `unknown` for anything else (never issued, already consumed, a flow not yet opened,
   *   malformed), so a reused state and a forged one look the same to the caller.
   */
  async consume(state: string, browserSecret: string | undefined): Promise<ConsentStateConsumption> {
    if (!SECRET_PATTERN.test(state)) {
      return { outcome: 'unknown' };
    }
    const stateHash = sha256(state);
    const row = await this.repository.findOneBy({ stateHash });
    if (!row?.browserHash) {
      return { outcome: 'unknown' };
    }
    if (row.expiresAt.getTime() <= Date.now()) {
      await this.repository.delete({ stateHash });
      return { outcome: 'expired' };
    }
    const browserHash = browserSecret === undefined ? undefined : sha256(browserSecret);
    if (!browserHash || !timingSafeEqual(Buffer.from(browserHash), Buffer.from(row.browserHash))) {
      return { outcome: 'other-browser' };
    }
    const { affected } = await this.repository.delete({ stateHash, browserHash, expiresAt: MoreThan(new Date()) });
    return affected === 1 ? { outcome: 'consumed', consent: consentOf(row) } : { outcome: 'unknown' };
  }
}

function consentOf(row: AtlassianOauthConsentStateEntity): AtlassianOauthConsent {
  return {
    platform: row.platform,
    tenantId: row.tenantId,
    returnTo: row.returnTo,
    scopes: row.scopes.split(' ').filter((scope) => scope !== ''),
  };
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
