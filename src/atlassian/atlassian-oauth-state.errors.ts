import type { AtlassianOauthStateEntity } from '../database/entities';
import { describeStateKey } from './atlassian-oauth-state.types';

/**
 * Bad input to `AtlassianOauthStateRepo`, `AtlassianOauthRotationService` or
 * `AtlassianOauthReencryptionService`: thrown before anything is written, so the stored state
 * stays as it was. The message names the field and what it must be; it never contains the
 * value, which may be a token.
 */
export class AtlassianOauthStateValidationError extends Error {
  override readonly name = 'AtlassianOauthStateValidationError';

  constructor(
    /**
     * The offending field: `platform`, `tenantId`, `tokens`, `accessToken`, `refreshToken`,
     * `expiresAt`, `options`, `expectedRefreshToken`, for `rotate` `refresh`, `minValidityMs`,
     * `leaseMs` or `waitMs`, for `reencryptAll` `batchSize` or `onProgress`.
     */
    readonly field: string,
    /** What the field must be, e.g. `must be a non-blank string`: with {@link field}, a sentence a person can act on. */
    readonly requirement: string,
  ) {
    super(`Invalid Atlassian OAuth state: ${field} ${requirement}.`);
  }
}

/**
 * A conditional `upsert` found a different state than the caller expected, and wrote nothing.
 *
 * Another writer rotated the token first (or, for `expectedRefreshToken: null`, the key was
 * already connected). Use {@link current}, the state that won, instead of refreshing again: the
 * refresh token the caller holds has been rotated past.
 */
export class AtlassianOauthStateConflictError extends Error {
  override readonly name = 'AtlassianOauthStateConflictError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
    /** The stored state that won, or `null` when nothing is stored. */
    readonly current: AtlassianOauthStateEntity | null,
  ) {
    super(
      `Atlassian OAuth state of ${describeStateKey(platform, tenantId)} is not the expected one: ` +
        (current ? 'another writer stored a newer refresh token' : 'nothing is stored') +
        '. Nothing was written; use error.current instead of refreshing again.',
    );
  }
}

/**
 * `rotate` found no stored state for the key: there is no refresh token to refresh from. The
 * tenant has to connect (consent) first, or was disconnected meanwhile.
 */
export class AtlassianOauthStateNotFoundError extends Error {
  override readonly name = 'AtlassianOauthStateNotFoundError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
  ) {
    super(
      `No Atlassian OAuth state is stored for ${describeStateKey(platform, tenantId)}: connect the tenant first; there is nothing to refresh.`,
    );
  }
}

/**
 * `rotate` waited `waitMs` for another caller's refresh of the same key (in this process or
 * another one) without getting a valid state or the lease. Nothing was written and `refresh` was
 * not called; retry later, or raise `waitMs` if refreshes legitimately take that long.
 */
export class AtlassianOauthRotateTimeoutError extends Error {
  override readonly name = 'AtlassianOauthRotateTimeoutError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
    readonly waitMs: number,
  ) {
    super(
      `Timed out after ${waitMs} ms waiting for another refresh of the Atlassian OAuth state of ${describeStateKey(platform, tenantId)}; nothing was written.`,
    );
  }
}

/**
 * The consumer's `refresh` function threw (or rejected) inside `rotate`. The stored state is
 * unchanged and the lease was released, so the next `rotate` may try again at once.
 *
 * The message names the key and the class of the error `refresh` threw, and nothing of that
 * error's message: a consumer's error may quote the token response it choked on, new tokens
 * and all, and this message lands in log lines. The error itself is `cause`, for the caller to
 * inspect; log `cause` only where a token in a log line is acceptable.
 */
export class AtlassianOauthRefreshFailedError extends Error {
  override readonly name = 'AtlassianOauthRefreshFailedError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
    cause: unknown,
  ) {
    super(
      `Refreshing the Atlassian OAuth state of ${describeStateKey(platform, tenantId)} failed: refresh threw ${describeCauseClass(cause)}. ` +
        'The stored state is unchanged; see error.cause.',
      { cause },
    );
  }
}

/** The class of what `refresh` threw, never its message: `an Error (TypeError)`, `a string`. */
function describeCauseClass(cause: unknown): string {
  if (cause instanceof Error) {
    // `name` is the consumer's to set and could hold anything; a class name is an identifier.
    const className = cause.constructor.name;
    return /^[A-Za-z_$][\w$]{0,99}$/.test(className) ? className : 'an Error';
  }
  return cause === null ? 'null' : `${/^[aeiou]/.test(typeof cause) ? 'an' : 'a'} ${typeof cause}`;
}
