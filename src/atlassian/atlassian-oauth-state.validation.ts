// The input checks of the store and its services, made before anything is read or written. Each
// throws AtlassianOauthStateValidationError naming the field and what it must be, never its
// value, which may be a token.
import { types } from 'node:util';
import type { AtlassianOauthStateEntity } from '../database/entities';
import { AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';
import {
  AtlassianOauthRefresh,
  AtlassianOauthRotateOptions,
  AtlassianOauthStateKey,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_VALIDITY_MS,
  DEFAULT_REENCRYPT_BATCH_SIZE,
  DEFAULT_WAIT_MS,
  MAX_ROTATE_TIMER_MS,
  ReencryptOptions,
} from './atlassian-oauth-state.types';

/** Longest `platform` or `tenantId` accepted: the `varchar` length on server databases. */
export const MAX_KEY_LENGTH = 255;

/** Token values as the store writes them: every field present, `null` where omitted. */
export type ValidTokens = Pick<AtlassianOauthStateEntity, 'accessToken' | 'refreshToken' | 'expiresAt'>;

export function validateKey(platform: unknown, tenantId: unknown): AtlassianOauthStateKey {
  return { platform: requireKeyPart('platform', platform), tenantId: requireKeyPart('tenantId', tenantId) };
}

export function requireKeyPart(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new AtlassianOauthStateValidationError(field, 'must be a non-blank string');
  }
  if (value.length > MAX_KEY_LENGTH) {
    throw new AtlassianOauthStateValidationError(field, `must be at most ${MAX_KEY_LENGTH} characters`);
  }
  if (CONTROL_CHARACTER.test(value)) {
    throw new AtlassianOauthStateValidationError(
      field,
      'must not contain a control character (U+0000-U+001F, U+007F-U+009F): it could forge a log line',
    );
  }
  if (BIDI_CONTROL.test(value)) {
    throw new AtlassianOauthStateValidationError(
      field,
      'must not contain a bidirectional control character (U+202A-U+202E, U+2066-U+2069): it could make the id read as another one',
    );
  }
  if (LONE_SURROGATE.test(value)) {
    throw new AtlassianOauthStateValidationError(
      field,
      'must be well-formed UTF-16 (no lone surrogate): the engines cannot store it faithfully',
    );
  }
  return value;
}

/**
 * C0 controls, DEL and C1 controls (Unicode category Cc), NUL included (PostgreSQL cannot store it
 * in text). A key is an identifier; a newline in it would forge a line of every log that names it.
 */
const CONTROL_CHARACTER = /\p{Cc}/u;

/**
 * The bidirectional embeddings, overrides and isolates (the "Trojan Source" characters, CVE-2021-42574):
 * invisible, they reorder the text after them, so `tenant-a\u202e...` could show in a log or a page
 * as another tenant's id.
 */
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;

/**
 * A surrogate code unit that is not half of a pair (a `u` regex sees a pair as one code point).
 * SQLite stores it and then cannot read it back; PostgreSQL and MariaDB replace it, so two
 * different keys would land on one row.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/** PostgreSQL cannot store U+0000 in text; refusing it everywhere keeps the engines alike. */
function refuseNul(field: string, value: string): string {
  if (value.includes('\u0000')) {
    throw new AtlassianOauthStateValidationError(field, 'must not contain the NUL character (U+0000)');
  }
  return value;
}

/** Most scopes one consent may ask for: Atlassian's apps ask for a handful; 50 leaves room and bounds the URL. */
export const MAX_SCOPES = 50;

/** Longest scope accepted: Atlassian's longest are about 40 characters. */
export const MAX_SCOPE_LENGTH = 100;

/** Atlassian's scope syntax: `read:jira-work`, `read:confluence-content.all`, `offline_access`. */
const SCOPE = /^[A-Za-z0-9:._-]+$/;

/**
 * Checks the scopes of a consent: 1 to {@link MAX_SCOPES} of them, each of letters, digits, `:`,
 * `.`, `_` and `-` (Atlassian's scope syntax), at most {@link MAX_SCOPE_LENGTH} characters.
 *
 * @returns them without duplicates, in their order.
 */
export function validateScopes(scopes: unknown): string[] {
  if (
    !Array.isArray(scopes) ||
    scopes.length === 0 ||
    scopes.length > MAX_SCOPES ||
    scopes.some((scope) => typeof scope !== 'string' || scope.length > MAX_SCOPE_LENGTH || !SCOPE.test(scope))
  ) {
    throw new AtlassianOauthStateValidationError(
      'scopes',
      `must list 1 to ${MAX_SCOPES} Atlassian scopes, each of at most ${MAX_SCOPE_LENGTH} letters, digits, ':', '.', '_' or '-' (for example read:jira-work)`,
    );
  }
  return [...new Set(scopes as string[])];
}

export function validateTokens(tokens: unknown): ValidTokens {
  if (typeof tokens !== 'object' || tokens === null) {
    throw new AtlassianOauthStateValidationError('tokens', 'must be an object with a refreshToken');
  }
  const { accessToken, refreshToken, expiresAt } = tokens as Record<string, unknown>;
  if (typeof refreshToken !== 'string' || refreshToken.trim() === '') {
    throw new AtlassianOauthStateValidationError('refreshToken', 'must be a non-empty string');
  }
  refuseNul('refreshToken', refreshToken);
  if (accessToken !== undefined && accessToken !== null) {
    if (typeof accessToken !== 'string' || accessToken.trim() === '') {
      throw new AtlassianOauthStateValidationError('accessToken', 'must be a non-empty string, null or omitted');
    }
    refuseNul('accessToken', accessToken);
  }
  if (
    expiresAt !== undefined &&
    expiresAt !== null &&
    !(types.isDate(expiresAt) && !Number.isNaN(expiresAt.getTime()))
  ) {
    throw new AtlassianOauthStateValidationError('expiresAt', 'must be a valid Date, null or omitted');
  }
  // A copy: the caller's Date may be changed later, or come from another realm (a VM context).
  return {
    accessToken: accessToken ?? null,
    refreshToken,
    expiresAt: expiresAt ? new Date(expiresAt.getTime()) : null,
  };
}

export function validateExpectedRefreshToken(options: unknown): string | null | undefined {
  const { expectedRefreshToken } = requireOptionsObject(options);
  if (expectedRefreshToken === undefined || expectedRefreshToken === null) {
    return expectedRefreshToken;
  }
  if (typeof expectedRefreshToken !== 'string' || expectedRefreshToken.trim() === '') {
    throw new AtlassianOauthStateValidationError('expectedRefreshToken', 'must be a non-empty string, null or omitted');
  }
  return expectedRefreshToken;
}

export function validateRefresh(refresh: unknown): AtlassianOauthRefresh {
  if (typeof refresh !== 'function') {
    throw new AtlassianOauthStateValidationError('refresh', 'must be a function returning the new tokens');
  }
  return refresh as AtlassianOauthRefresh;
}

export function validateRotateOptions(options: unknown): Required<AtlassianOauthRotateOptions> {
  const { minValidityMs, leaseMs, waitMs } = requireOptionsObject(options);
  return {
    minValidityMs: requireMilliseconds('minValidityMs', minValidityMs, DEFAULT_MIN_VALIDITY_MS, 0, Infinity),
    leaseMs: requireMilliseconds('leaseMs', leaseMs, DEFAULT_LEASE_MS, 1, MAX_ROTATE_TIMER_MS),
    waitMs: requireMilliseconds('waitMs', waitMs, DEFAULT_WAIT_MS, 0, MAX_ROTATE_TIMER_MS),
  };
}

export function validateReencryptOptions(options: unknown): ReencryptOptions & { batchSize: number } {
  const { batchSize = DEFAULT_REENCRYPT_BATCH_SIZE, onProgress } = requireOptionsObject(options);
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new AtlassianOauthStateValidationError('batchSize', 'must be a positive integer');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new AtlassianOauthStateValidationError('onProgress', 'must be a function or omitted');
  }
  return { batchSize, onProgress: onProgress as ReencryptOptions['onProgress'] };
}

function requireOptionsObject(options: unknown): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) {
    throw new AtlassianOauthStateValidationError('options', 'must be an object');
  }
  return options as Record<string, unknown>;
}

function requireMilliseconds(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    throw new AtlassianOauthStateValidationError(
      field,
      `must be a number of milliseconds from ${min} to ${max}, or omitted`,
    );
  }
  return value;
}
