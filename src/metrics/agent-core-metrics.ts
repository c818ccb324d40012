import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Options of {@link AgentCoreMetrics}, provided under {@link METRICS_OPTIONS}. */
export interface MetricsOptions {
  /**
   * Label refreshes with `platform` and `tenant_id` (`METRICS_TENANT_LABELS=true`). Off by
   * default: one series per tenant multiplies Prometheus's storage by the number of tenants.
   */
  readonly tenantLabels: boolean;
}

/** Injection token of {@link MetricsOptions}. */
export const METRICS_OPTIONS = Symbol('METRICS_OPTIONS');

/** How one refresh of an Atlassian grant ended. */
export type RefreshOutcome = 'refreshed' | 'revoked' | 'transient_failure' | 'cooldown';

/** How a `rotate` call's wait for the refresh lease of its key ended. */
export type LeaseWaitOutcome = 'acquired' | 'refreshed_elsewhere' | 'timeout';

/** What one keep-alive sweep did, as the sweep counts it. */
export interface KeepAliveSweepCounts {
  readonly refreshed: number;
  readonly fresh: number;
  readonly revoked: number;
  readonly failed: number;
}

/** The stored Atlassian grants by refresh health, as `agent_core_atlassian_grants` labels them. */
export interface GrantHealthCounts {
  readonly ok: number;
  readonly refresh_failing: number;
  readonly needs_reconnect: number;
}

/** Buckets (seconds) for store calls: a SQLite `get` takes tens of microseconds, a server write milliseconds. */
const STORE_CALL_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Buckets (seconds) for lease waits: usually one token request (hundreds of ms), at most `waitMs`. */
const LEASE_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Buckets (seconds) for Atlassian REST calls: tens of ms usually, up to the 60 s deadline when waits add up. */
const API_CALL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The Prometheus series of one agent-core application, in a registry of its own.
 *
 * Each application (each Nest app, so each test module too) has its own `Registry` rather than
 * prom-client's global one, so several apps in one process never collide on a metric name.
 *
 * No label ever carries a token or a secret. Tenant ids appear only on the refresh counter and
 * only with {@link MetricsOptions.tenantLabels}.
 */
@Injectable()
export class AgentCoreMetrics {
  /** The registry `GET /metrics` renders. */
  readonly registry = new Registry();

  private readonly refreshes: Counter<string>;
  private readonly leaseWaits: Histogram<'outcome'>;
  private readonly storeCalls: Histogram<'method' | 'outcome'>;
  private readonly keepAliveKeys: Counter<'result'>;
  private readonly keepAliveLastRun: Gauge;
  private readonly databaseUp: Gauge;
  private readonly databaseOutages: Counter;
  private readonly unsavedRotationsGauge: Gauge;
  private readonly unsettledRefreshesCounter: Counter<'result'>;
  private readonly apiRequests: Counter<'platform' | 'method' | 'status_class'>;
  private readonly apiRetries: Counter<'reason'>;
  private readonly apiPauses: Counter<'scope'>;
  private readonly apiCalls: Histogram<'platform' | 'method'>;
  private readonly apiNearLimitGauge: Gauge<'platform'>;
  private databaseAvailable: boolean | undefined;
  private databaseCheck: (() => Promise<unknown>) | undefined;
  private readonly grants: Gauge<'health'>;
  private grantsCount: (() => Promise<GrantHealthCounts>) | undefined;

  constructor(@Inject(METRICS_OPTIONS) private readonly options: MetricsOptions) {
    const registers = [this.registry];
    this.refreshes = new Counter({
      name: 'agent_core_atlassian_refreshes_total',
      help: 'Refreshes of Atlassian grants by outcome: refreshed, revoked, transient_failure, cooldown (refused without calling Atlassian).',
      labelNames: options.tenantLabels ? ['outcome', 'platform', 'tenant_id'] : ['outcome'],
      registers,
    });
    this.leaseWaits = new Histogram({
      name: 'agent_core_rotation_lease_wait_seconds',
      help: 'How long rotate waited for the refresh lease of its key, by outcome: acquired, refreshed_elsewhere, timeout.',
      labelNames: ['outcome'],
      buckets: LEASE_WAIT_BUCKETS,
      registers,
    });
    this.storeCalls = new Histogram({
      name: 'agent_core_store_call_duration_seconds',
      help: 'Duration of the token store calls by method and outcome (ok, error).',
      labelNames: ['method', 'outcome'],
      buckets: STORE_CALL_BUCKETS,
      registers,
    });
    this.keepAliveKeys = new Counter({
      name: 'agent_core_keepalive_keys_total',
      help: 'Keys the keep-alive sweep looked at, by result: refreshed, fresh, revoked, failed.',
      labelNames: ['result'],
      registers,
    });
    this.keepAliveLastRun = new Gauge({
      name: 'agent_core_keepalive_last_run_timestamp_seconds',
      help: 'When the last keep-alive sweep finished (Unix time); 0 before the first.',
      registers,
    });
    this.databaseUp = new Gauge({
      name: 'agent_core_database_up',
      help: 'Whether the database answered its check within the time limit (1) or not (0), checked at every scrape.',
      registers,
      // Checked when scraped, so the value is never older than the scrape, and a service that is
      // scraped but not probed still counts its outages.
      collect: async () => {
        await this.databaseCheck?.();
      },
    });
    this.grants = new Gauge({
      name: 'agent_core_atlassian_grants',
      help: "Stored Atlassian grants by refresh health (ok, refresh_failing, needs_reconnect), counted in the database at every scrape, so every process's refreshes count, the CLI's too. No sample while the database does not answer.",
      labelNames: ['health'],
      registers,
      collect: async () => {
        await this.collectGrants();
      },
    });
    this.apiRequests = new Counter({
      name: 'agent_core_atlassian_api_requests_total',
      help: 'HTTP requests AtlassianApiClient sent, by platform, method and status class (2xx, 4xx, 5xx, network).',
      labelNames: ['platform', 'method', 'status_class'],
      registers,
    });
    this.apiRetries = new Counter({
      name: 'agent_core_atlassian_api_retries_total',
      help: 'Requests AtlassianApiClient sent again, by reason: rate-limited, unavailable, server-error, network, unauthorized.',
      labelNames: ['reason'],
      registers,
    });
    this.apiPauses = new Counter({
      name: 'agent_core_atlassian_api_pauses_total',
      help: 'Pauses recorded after a 429, by scope: app (every process), tenant (every process), endpoint (this process).',
      labelNames: ['scope'],
      registers,
    });
    this.apiCalls = new Histogram({
      name: 'agent_core_atlassian_api_call_duration_seconds',
      help: 'Duration of AtlassianApiClient.request calls, waits and retries included, by platform and method.',
      labelNames: ['platform', 'method'],
      buckets: API_CALL_BUCKETS,
      registers,
    });
    this.apiNearLimitGauge = new Gauge({
      name: 'agent_core_atlassian_api_near_limit',
      help: 'The last X-RateLimit-NearLimit Atlassian sent, by platform: 1 when under 20% of the budget is left.',
      labelNames: ['platform'],
      registers,
    });
    this.databaseOutages = new Counter({
      name: 'agent_core_database_outages_total',
      help: 'Database outages seen: each change from answering to not answering counts once.',
      registers,
    });
    this.unsettledRefreshesCounter = new Counter({
      name: 'agent_core_unsettled_refreshes_total',
      help:
        'Refreshes whose outcome was unknown and were settled by refreshing again, by result: ambiguous and lapsed_lease ' +
        '(a key became unsettled: a timeout or lost connection after the request was sent, or a lease that lapsed unreleased), ' +
        'stored, settled_elsewhere, revoked, deleted, abandoned.',
      labelNames: ['result'],
      registers,
    });
    this.unsavedRotationsGauge = new Gauge({
      name: 'agent_core_unsaved_rotations',
      help: 'Rotated token pairs this process got from Atlassian and holds in memory because storing them failed; written as soon as the database answers. Above 0: do not kill the process.',
      registers,
    });
  }

  /** Counts one refresh outcome; `platform`/`tenantId` become labels only with tenant labels on. */
  refresh(outcome: RefreshOutcome, platform: string, tenantId: string): void {
    if (this.options.tenantLabels) {
      this.refreshes.inc({ outcome, platform, tenant_id: tenantId });
    } else {
      this.refreshes.inc({ outcome });
    }
  }

  /** Records how long a `rotate` call waited for its key's refresh lease. */
  leaseWait(outcome: LeaseWaitOutcome, seconds: number): void {
    this.leaseWaits.observe({ outcome }, seconds);
  }

  /** Records one store call's duration; `method` is the store's method name, never an argument. */
  storeCall(method: string, outcome: 'ok' | 'error', seconds: number): void {
    this.storeCalls.observe({ method, outcome }, seconds);
  }

  /** Adds one finished keep-alive sweep's counts and stamps its end. */
  keepAliveSweep(counts: KeepAliveSweepCounts, finishedAt: Date = new Date()): void {
    for (const result of ['refreshed', 'fresh', 'revoked', 'failed'] as const) {
      this.keepAliveKeys.inc({ result }, counts[result]);
    }
    this.keepAliveLastRun.set(finishedAt.getTime() / 1000);
  }

  /**
   * Reports whether the database answers now. A change from answering to not answering counts
   * one outage, however many checks fail during it.
   */
  databaseAvailability(available: boolean): void {
    if (!available && this.databaseAvailable !== false) {
      this.databaseOutages.inc();
    }
    this.databaseAvailable = available;
    this.databaseUp.set(available ? 1 : 0);
  }

  /**
   * Sets the check that every scrape runs before rendering (the readiness probe's own check),
   * which reports through {@link databaseAvailability}.
   */
  monitorDatabase(check: () => Promise<unknown>): void {
    this.databaseCheck = check;
  }

  /**
   * Sets how every scrape counts the stored grants by health for `agent_core_atlassian_grants`
   * (the Atlassian module's, read from the database).
   */
  monitorGrants(count: () => Promise<GrantHealthCounts>): void {
    this.grantsCount = count;
  }

  private async collectGrants(): Promise<void> {
    if (!this.grantsCount) {
      return;
    }
    try {
      const counts = await this.grantsCount();
      for (const health of ['ok', 'refresh_failing', 'needs_reconnect'] as const) {
        this.grants.set({ health }, counts[health]);
      }
    } catch {
      // The database does not answer (agent_core_database_up says so): no stale count is shown.
      this.grants.reset();
    }
  }

  /** Counts a key becoming unsettled (`ambiguous`, `lapsed_lease`) or how settling it ended. */
  unsettledRefresh(result: string): void {
    this.unsettledRefreshesCounter.inc({ result });
  }

  /** Sets how many rotated pairs wait in this process's memory to be stored. */
  unsavedRotations(count: number): void {
    this.unsavedRotationsGauge.set(count);
  }

  /** Counts one HTTP request to Atlassian's REST API; `statusClass` is `2xx`...`5xx` or `network`. */
  apiRequest(platform: string, method: string, statusClass: string): void {
    this.apiRequests.inc({ platform, method, status_class: statusClass });
  }

  /** Counts one request sent again, by why. */
  apiRetry(reason: string): void {
    this.apiRetries.inc({ reason });
  }

  /** Counts one pause recorded after a 429. */
  apiPause(scope: 'app' | 'tenant' | 'endpoint'): void {
    this.apiPauses.inc({ scope });
  }

  /** Records one `request` call's duration, waits and retries included. */
  apiCallDuration(platform: string, method: string, seconds: number): void {
    this.apiCalls.observe({ platform, method }, seconds);
  }

  /** Records the last `X-RateLimit-NearLimit` of a platform. */
  apiNearLimit(platform: string, nearLimit: boolean): void {
    this.apiNearLimitGauge.set({ platform }, nearLimit ? 1 : 0);
  }

  /** The Prometheus text exposition of every series. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
