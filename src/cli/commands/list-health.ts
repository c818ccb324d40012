import type { AtlassianOauthRefreshHealth, AtlassianOauthStateHealthSummary } from '../../atlassian';
import { withRefreshHealth } from '../../atlassian/tokens/atlassian-oauth-refresh-health';
import type { States } from '../cli-context';

/** What `list` shows: the stored states with their refresh health, optionally only the unhealthy ones. */
export async function listWithHealth(
  states: States,
  options: { platform?: string; unhealthy: boolean },
): Promise<AtlassianOauthStateHealthSummary[]> {
  const [summaries, rows] = await Promise.all([states.repo.list({ platform: options.platform }), states.health.list()]);
  const all = withRefreshHealth(summaries, rows);
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

/** `list`'s text lines with each state's health appended (the column before it has a fixed width). */
export function formatHealthLines(
  summaries: readonly AtlassianOauthStateHealthSummary[],
  lines: readonly string[],
): string[] {
  return lines.map((line, i) => {
    const health = summaries[i]?.health;
    return health ? `${line}  ${describeHealth(health)}` : line;
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
