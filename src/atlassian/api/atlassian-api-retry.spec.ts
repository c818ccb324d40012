import { backoffMs, isIdempotent, jitterMs, pauseKindOf, retryAfterMs } from './atlassian-api-retry';

describe('retry rules of AtlassianApiClient', () => {
  const now = Date.parse('2026-03-02T10:00:00Z');

  it.each([
    ['Retry-After in seconds', { 'retry-after': '7' }, 7_000],
    ['Retry-After with a fraction', { 'retry-after': '1.5' }, 1_500],
    ['Retry-After as an HTTP date', { 'retry-after': 'Mon, 02 Mar 2026 10:00:30 GMT' }, 30_000],
    ['Retry-After in the past', { 'retry-after': 'Mon, 02 Mar 2026 09:00:00 GMT' }, 0],
    ['X-RateLimit-Reset as an ISO time', { 'x-ratelimit-reset': '2026-03-02T10:01:00Z' }, 60_000],
    [
      'Retry-After before X-RateLimit-Reset',
      { 'retry-after': '2', 'x-ratelimit-reset': '2026-03-02T10:01:00Z' },
      2_000,
    ],
    ['no header', {}, null],
    ['a header that is neither', { 'retry-after': 'soon' }, null],
  ])('retryAfterMs reads %s', (_name, headers, expected) => {
    expect(retryAfterMs(new Headers(headers), now)).toBe(expected);
  });

  it('backs off exponentially with full jitter: 1 s base, 30 s cap', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((retry) => backoffMs(retry, () => 0.999999))).toEqual([
      999, 1_999, 3_999, 7_999, 15_999, 29_999, 29_999,
    ]);
    expect(backoffMs(3, () => 0)).toBe(0);
  });

  it('adds at most 10% (at most 1 s) of jitter to a named wait', () => {
    expect(jitterMs(5_000, () => 0.999999)).toBe(499);
    expect(jitterMs(60_000, () => 0.999999)).toBe(999);
    expect(jitterMs(5_000, () => 0)).toBe(0);
  });

  it.each([
    ['jira-quota-global-based', 'app'],
    ['jira-quota-tenant-based', 'tenant'],
    ['jira-burst-based', 'endpoint'],
    ['jira-per-issue-on-write', 'endpoint'],
    ['something-new', null],
    [null, null],
  ])('a 429 for %s pauses %s', (reason, kind) => {
    expect(pauseKindOf(reason)).toBe(kind);
  });

  it('sends again after a 5xx only GET, HEAD, PUT, DELETE, OPTIONS, or a call marked idempotent', () => {
    expect(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'POST', 'PATCH'].map((m) => isIdempotent(m, undefined))).toEqual(
      [true, true, true, true, true, false, false],
    );
    expect(isIdempotent('POST', true)).toBe(true);
    expect(isIdempotent('GET', false)).toBe(false);
  });
});
