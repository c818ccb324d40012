import { Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { AgentCoreMetrics, GrantHealthCounts } from '../../metrics/agent-core-metrics';
import { AtlassianOauthStateRepo } from '../atlassian-oauth-state.repo';
import { AtlassianOauthRefreshHealthRepo } from '../atlassian-oauth-refresh-health.repo';

/**
 * Feeds `agent_core_atlassian_grants{health}` in an application that serves metrics: at every
 * scrape it counts the stored grants by refresh health from the database, so the gauge shows what
 * every process sharing the database did (other instances, the CLI's `keep-alive`), not only this
 * one. Two cheap reads: a `COUNT(*)` of the states, and the refresh health table (one row per key
 * whose last refresh failed) with the `id` and `updatedAt` of the states it names.
 */
@Injectable()
export class AtlassianOauthGrantHealthMetrics implements OnModuleInit {
  constructor(
    private readonly states: AtlassianOauthStateRepo,
    private readonly health: AtlassianOauthRefreshHealthRepo,
    @Optional() private readonly metrics?: AgentCoreMetrics,
  ) {}

  onModuleInit(): void {
    this.metrics?.monitorGrants(() => this.count());
  }

  /** The stored grants by health: `ok`, `refresh_failing` (may pass), `needs_reconnect` (revoked). */
  async count(): Promise<GrantHealthCounts> {
    const [total, rows] = await Promise.all([this.states.count(), this.health.listCurrent()]);
    const revoked = rows.filter((row) => row.status === 'revoked').length;
    return {
      // A key deleted between the two reads must not make the count negative.
      ok: Math.max(0, total - rows.length),
      refresh_failing: rows.length - revoked,
      needs_reconnect: revoked,
    };
  }
}
