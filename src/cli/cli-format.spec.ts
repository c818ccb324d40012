import { AtlassianOauthStateEntity } from '../atlassian';
import {
  describeExpiry,
  formatDuration,
  formatProgressBar,
  formatProgressLine,
  formatReencryptCounts,
  formatStateLines,
  formatSummaryLines,
  REDACTED,
  stateJson,
  summaryJson,
} from './cli-format';

const NOW = new Date('2026-11-27T12:00:00.000Z');
const at = (offsetMs: number): Date => new Date(NOW.getTime() + offsetMs);
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

function entity(values: Partial<AtlassianOauthStateEntity>): AtlassianOauthStateEntity {
  return Object.assign(new AtlassianOauthStateEntity(), {
    id: '00000000-0000-4000-8000-000000000001',
    platform: 'jira',
    tenantId: 'tenant-a',
    accessToken: 'secret-access',
    refreshToken: 'secret-refresh',
    expiresAt: at(42 * M),
    updatedAt: new Date('2026-11-27T11:00:00.000Z'),
    ...values,
  });
}

describe('describeExpiry', () => {
  it.each([
    [null, 'no expiry'],
    [at(42 * M), 'expires in 42m'],
    [at(42 * M + 20 * S), 'expires in 42m'],
    [at(-3 * H), 'expired 3h ago'],
    [at(-3 * H - 10 * M), 'expired 3h ago'],
    [at(45 * S), 'expires in 45s'],
    [at(59 * M + 50 * S), 'expires in 1h'],
    [at(3 * D + 2 * H), 'expires in 3d'],
    [at(-90 * D), 'expired 90d ago'],
    [at(0), 'expired 1s ago'],
    [at(200), 'expires in 1s'],
  ])('words %p as %p', (expiresAt, wording) => {
    expect(describeExpiry(expiresAt, NOW)).toBe(wording);
  });
});

describe('formatDuration', () => {
  it.each([
    [1 * S, '1s'],
    [59 * S, '59s'],
    [59.6 * S, '1m'],
    [90 * M, '2h'],
    [23 * H, '23h'],
    [23.6 * H, '1d'],
  ])('shows %p ms as %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatSummaryLines', () => {
  it('gives one aligned line per state, and none for no state', () => {
    const lines = formatSummaryLines(
      [
        {
          platform: 'confluence',
          tenantId: 't',
          hasAccessToken: false,
          expiresAt: null,
          updatedAt: new Date('2026-11-27T10:00:00.000Z'),
        },
        {
          platform: 'jira',
          tenantId: 'tenant-a',
          hasAccessToken: true,
          expiresAt: at(-3 * H),
          updatedAt: new Date('2026-11-27T09:00:00.000Z'),
        },
      ],
      NOW,
    );

    expect(lines).toEqual([
      'confluence  t         no access token       no expiry       updated 2026-11-27T10:00:00.000Z',
      'jira        tenant-a  access token present  expired 3h ago  updated 2026-11-27T09:00:00.000Z',
    ]);
    expect(formatSummaryLines([], NOW)).toEqual([]);
  });
});

describe('summaryJson', () => {
  it('gives ISO dates, the expiry wording and whether it has expired', () => {
    expect(
      summaryJson(
        { platform: 'jira', tenantId: 't', hasAccessToken: true, expiresAt: at(-1 * H), updatedAt: NOW },
        NOW,
      ),
    ).toEqual({
      platform: 'jira',
      tenantId: 't',
      hasAccessToken: true,
      expiresAt: '2026-11-27T11:00:00.000Z',
      expired: true,
      expiry: 'expired 1h ago',
      updatedAt: NOW.toISOString(),
    });
    expect(
      summaryJson({ platform: 'jira', tenantId: 't', hasAccessToken: false, expiresAt: null, updatedAt: NOW }, NOW),
    ).toMatchObject({ expiresAt: null, expired: null, expiry: 'no expiry' });
  });
});

describe('stateJson and formatStateLines', () => {
  it('redact both tokens unless reveal is asked for', () => {
    const state = entity({});

    expect(stateJson(state, { reveal: false, now: NOW })).toMatchObject({
      accessToken: REDACTED,
      refreshToken: REDACTED,
      expiry: 'expires in 42m',
    });
    expect(stateJson(state, { reveal: true, now: NOW })).toMatchObject({
      accessToken: 'secret-access',
      refreshToken: 'secret-refresh',
    });
    expect(formatStateLines(state, { reveal: false, now: NOW }).join('\n')).not.toMatch(/secret-/);
    expect(formatStateLines(state, { reveal: true, now: NOW })).toEqual(
      expect.arrayContaining(['accessToken:  secret-access', 'refreshToken: secret-refresh']),
    );
  });

  it('show a missing access token and expiry as such, not as redacted', () => {
    const state = entity({ accessToken: null, expiresAt: null });

    expect(stateJson(state, { reveal: false, now: NOW })).toMatchObject({
      accessToken: null,
      expiresAt: null,
      expiry: 'no expiry',
    });
    expect(formatStateLines(state, { reveal: false, now: NOW })).toEqual(
      expect.arrayContaining(['accessToken:  (none)', 'expiresAt:    no expiry', 'refreshToken: [redacted]']),
    );
  });
});

describe('reencrypt progress', () => {
  const progress = { processed: 1000, total: 2500, sealed: 980, legacyPlaintext: 10, alreadyCurrent: 8, failed: 2 };

  it('words the counts and a plain progress line', () => {
    expect(formatReencryptCounts(progress)).toBe('sealed 980, legacy plaintext sealed 10, already current 8, failed 2');
    expect(formatProgressLine(progress)).toBe(
      '1000/2500 rows (sealed 980, legacy plaintext sealed 10, already current 8, failed 2)',
    );
  });

  it('draws a bar of fixed width that fills with the share processed, capped at 100%', () => {
    expect(formatProgressBar(progress)).toBe(
      `[${'#'.repeat(12)}${'-'.repeat(18)}]  40% 1000/2500 rows (sealed 980, legacy plaintext sealed 10, already current 8, failed 2)`,
    );
    expect(formatProgressBar({ ...progress, processed: 2600 })).toMatch(/^\[#{30}\] 100% 2600\/2500 rows/);
    expect(
      formatProgressBar({ processed: 0, total: 0, sealed: 0, legacyPlaintext: 0, alreadyCurrent: 0, failed: 0 }),
    ).toMatch(/^\[#{30}\] 100% 0\/0 rows/);
  });
});
