import type {
  AtlassianOauthStateEntity,
  AtlassianOauthStateSummary,
  AtlassianSiteEntity,
  ReencryptCounts,
  ReencryptProgress,
} from '../atlassian';

/** What the CLI shows in place of a token value unless `--reveal` is given. */
export const REDACTED = '[redacted]';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A duration in its largest whole unit, rounded: `45s`, `42m`, `3h`, `12d`. Rounding goes unit by
 * unit, so 59m50s reads `1h`, never `60m`; anything under a second reads `1s`.
 */
export function formatDuration(ms: number): string {
  const seconds = Math.max(1, Math.round(Math.abs(ms) / SECOND));
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.round((seconds * SECOND) / MINUTE);
  if (minutes < 60) {
    return `${minutes}m`;
  }
  const hours = Math.round((minutes * MINUTE) / HOUR);
  if (hours < 24) {
    return `${hours}h`;
  }
  return `${Math.round((hours * HOUR) / DAY)}d`;
}

/** The access token's expiry as an operator reads it: `expired 3h ago`, `expires in 42m` or `no expiry`. */
export function describeExpiry(expiresAt: Date | null, now: Date): string {
  if (expiresAt === null) {
    return 'no expiry';
  }
  const remaining = expiresAt.getTime() - now.getTime();
  return remaining > 0 ? `expires in ${formatDuration(remaining)}` : `expired ${formatDuration(remaining)} ago`;
}

/** The summary of a stored state, as `list` shows it: never a token value. */
export function summarize(state: AtlassianOauthStateEntity): AtlassianOauthStateSummary {
  const { platform, tenantId, accessToken, expiresAt, updatedAt } = state;
  return { platform, tenantId, hasAccessToken: accessToken !== null, expiresAt, updatedAt };
}

/** One `list --json` entry: the summary plus its expiry wording; dates as ISO 8601 strings. */
export interface StateSummaryJson {
  platform: string;
  tenantId: string;
  hasAccessToken: boolean;
  expiresAt: string | null;
  expired: boolean | null;
  expiry: string;
  updatedAt: string;
}

export function summaryJson(summary: AtlassianOauthStateSummary, now: Date): StateSummaryJson {
  return {
    platform: summary.platform,
    tenantId: summary.tenantId,
    hasAccessToken: summary.hasAccessToken,
    expiresAt: summary.expiresAt?.toISOString() ?? null,
    expired: summary.expiresAt === null ? null : summary.expiresAt.getTime() <= now.getTime(),
    expiry: describeExpiry(summary.expiresAt, now),
    updatedAt: summary.updatedAt.toISOString(),
  };
}

/**
 * The text of `list`: exactly one line per state, columns aligned:
 * `jira  tenant-a  access token present  expires in 42m  updated 2026-11-27T19:02:11.123Z`.
 */
export function formatSummaryLines(summaries: readonly AtlassianOauthStateSummary[], now: Date): string[] {
  const rows = summaries.map((summary) => [
    summary.platform,
    summary.tenantId,
    summary.hasAccessToken ? 'access token present' : 'no access token',
    describeExpiry(summary.expiresAt, now),
    `updated ${summary.updatedAt.toISOString()}`,
  ]);
  const widths = rows.reduce<number[]>((max, row) => row.map((cell, i) => Math.max(max[i] ?? 0, cell.length)), []);
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
  );
}

/** One `get --json` object; tokens are {@link REDACTED} unless `reveal`, `null` when not stored. */
export interface StateJson {
  id: string;
  platform: string;
  tenantId: string;
  accessToken: string | null;
  refreshToken: string;
  expiresAt: string | null;
  expired: boolean | null;
  expiry: string;
  updatedAt: string;
}

export function stateJson(state: AtlassianOauthStateEntity, options: { reveal: boolean; now: Date }): StateJson {
  const shown = (token: string): string => (options.reveal ? token : REDACTED);
  const { expiresAt, expired, expiry, updatedAt } = summaryJson(summarize(state), options.now);
  return {
    id: state.id,
    platform: state.platform,
    tenantId: state.tenantId,
    accessToken: state.accessToken === null ? null : shown(state.accessToken),
    refreshToken: shown(state.refreshToken),
    expiresAt,
    expired,
    expiry,
    updatedAt,
  };
}

/** The text of `get`: one `field: value` line per column, tokens as in {@link stateJson}. */
export function formatStateLines(state: AtlassianOauthStateEntity, options: { reveal: boolean; now: Date }): string[] {
  const json = stateJson(state, options);
  const fields: [string, string][] = [
    ['platform', json.platform],
    ['tenantId', json.tenantId],
    ['accessToken', json.accessToken ?? '(none)'],
    ['refreshToken', json.refreshToken],
    ['expiresAt', json.expiresAt === null ? json.expiry : `${json.expiresAt} (${json.expiry})`],
    ['updatedAt', json.updatedAt],
    ['id', json.id],
  ];
  const width = Math.max(...fields.map(([name]) => name.length)) + 1;
  return fields.map(([name, value]) => `${`${name}:`.padEnd(width)} ${value}`);
}

/** How messages name one key: `jira/tenant-a`. */
export function describeKey(platform: string, tenantId: string): string {
  return `${platform}/${tenantId}`;
}

/** The counts of a `reencrypt` run, worded: `sealed 3, legacy plaintext sealed 0, already current 1, failed 0`. */
export function formatReencryptCounts(counts: ReencryptCounts): string {
  return (
    `sealed ${counts.sealed}, legacy plaintext sealed ${counts.legacyPlaintext}, ` +
    `already current ${counts.alreadyCurrent}, failed ${counts.failed}`
  );
}

/** `reencrypt`'s progress as a plain line, for output that is not a terminal: `1000/2500 rows (sealed 990, ...)`. */
export function formatProgressLine(progress: ReencryptProgress): string {
  return `${progress.processed}/${progress.total} rows (${formatReencryptCounts(progress)})`;
}

/** Width of {@link formatProgressBar}'s bar, in characters. */
const BAR_WIDTH = 30;

/** `reencrypt`'s progress as a terminal bar: `[###########-------------------]  40% 1000/2500 rows (...)`. */
export function formatProgressBar(progress: ReencryptProgress): string {
  // Rows written while the run goes on can make processed exceed the total counted at the start.
  const done = progress.total === 0 ? 1 : Math.min(1, progress.processed / progress.total);
  const filled = Math.round(done * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${`${Math.floor(done * 100)}%`.padStart(4)} ${formatProgressLine(progress)}`;
}

/** `1 site`, `3 sites`, `0 sites`. */
export function countSites(count: number): string {
  return `${count} site${count === 1 ? '' : 's'}`;
}

/**
 * The text of `sites` (and of `connect` after its summary): one line per site, columns aligned:
 * `site 11111111-1111-4111-8111-111111111111  https://acme.atlassian.net  acme  read:jira-work write:jira-work`.
 */
export function formatSiteLines(sites: readonly AtlassianSiteEntity[]): string[] {
  const rows = sites.map((site) => ['site', site.cloudId, site.url, site.name, site.scopes.join(' ')]);
  const widths = rows.reduce<number[]>((max, row) => row.map((cell, i) => Math.max(max[i] ?? 0, cell.length)), []);
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** One `sites --json` entry: what is stored of the site, `updatedAt` as an ISO 8601 string. */
export function siteJson(site: AtlassianSiteEntity): Record<string, unknown> {
  return {
    cloudId: site.cloudId,
    url: site.url,
    name: site.name,
    scopes: site.scopes,
    avatarUrl: site.avatarUrl,
    updatedAt: site.updatedAt.toISOString(),
  };
}
