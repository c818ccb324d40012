import type { AtlassianOauthRefreshHealth, AtlassianOauthStateHealthSummary } from '../../atlassian';
import { stateKeyId } from '../../atlassian/atlassian-oauth-state.types';
import { withRefreshHealth } from '../../atlassian/tokens/atlassian-oauth-refresh-health';
import type { States } from '../cli-context';
import { countSites } from '../cli-format';

/** One line of `list`: a stored state, its refresh health and how many sites its grant reaches. */
export interface ListedState extends AtlassianOauthStateHealthSummary {
  readonly sites: number;
}

/** What `list` shows: the stored states with their refresh health and site count, optionally only the unhealthy ones. */
export async function listWithHealth(
  states: States,
  options: { platform?: string; unhealthy: boolean },
): Promise<ListedState[]> {
  const [summaries, rows, sites] = await Promise.all([
    states.repo.list({ platform: options.platform }),
    states.health.list(),
    states.sites.countByKey({ platform: options.platform }),
  ]);
  const all = withRefreshHealth(summaries, rows).map((summary) => ({
    ...summary,
    sites: sites.get(stateKeyId(summary)) ?? 0,
  }));
  return options.unhealthy ? all.filter((summary) => summary.health.status !== 'ok') : all;
}

/** `ok`, `refresh failing since <time> (<n> attempts)` or `needs reconnect (grant revoked <time>)`. */
export function describeHealth(health: AtlassianOauthRefreshHealth): string {
  switch (health.status) {
    case 'ok':
      return 'ok';
    case 'failing':
      return `refresh failing since ${health.since.toISOString()} (${health.attempts} attempt${health.attempts === 1 ? '' : 's'})`;
    case 'revoked':
      return `needs reconnect (grant revoked ${health.since.toISOString()})`;
  }
}

/**
 * `list`'s text lines with each state's site count and health appended (the columns before them
 * have a fixed width): `...  updated 2026-11-27T19:02:11.123Z  1 site   ok`.
 */
export function formatHealthLines(summaries: readonly ListedState[], lines: readonly string[]): string[] {
  const counts = summaries.map((summary) => countSites(summary.sites));
  const width = Math.max(0, ...counts.map((count) => count.length));
  return lines.map((line, i) => {
    const summary = summaries[i];
    return summary ? `${line}  ${counts[i]!.padEnd(width)}  ${describeHealth(summary.health)}` : line;
  });
}

/** One `list --json` entry's `health`: dates as ISO 8601 strings, and the text `list` prints. */
export function healthJson(health: AtlassianOauthRefreshHealth): Record<string, unknown> {
  const text = describeHealth(health);
  switch (health.status) {
    case 'ok':
      return { status: 'ok', text };
    case 'failing':
      return {
        status: 'failing',
        since: health.since.toISOString(),
        attempts: health.attempts,
        failure: health.failure,
        text,
      };
    case 'revoked':
      return { status: 'revoked', since: health.since.toISOString(), text };
  }
}
