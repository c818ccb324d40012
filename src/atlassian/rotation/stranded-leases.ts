import { Logger } from '@nestjs/common';
import { AtlassianOauthStateKey, describeStateKey, stateKeyId } from '../atlassian-oauth-state.types';
import { AtlassianOauthRefreshLeaseRepo } from '../atlassian-oauth-refresh-lease.repo';

/** How often a lease that could not be given back is offered back again while the database is away. */
export const STRANDED_LEASE_RETRY_MS = 500;

interface StrandedLease {
  readonly key: AtlassianOauthStateKey;
  readonly holder: string;
  /** When the lease lapses by itself (epoch ms): retrying after that is pointless. */
  readonly lapsesAt: number;
  timer?: NodeJS.Timeout;
}

/**
 * The refresh leases this process took and could not give back because the database failed at
 * that moment. Left alone, such a lease keeps every caller of its key (in every process) waiting
 * until it lapses, up to `leaseMs` after the database is back. So it is given back as soon as the
 * database answers again: retried every {@link STRANDED_LEASE_RETRY_MS} and at once when the
 * outage ends, until it succeeds or the lease has lapsed; and this process's next rotation of the
 * key takes it over at once ({@link claim}).
 */
export class StrandedLeases {
  private readonly stranded = new Map<string, StrandedLease>();
  private closed = false;

  constructor(
    private readonly leases: AtlassianOauthRefreshLeaseRepo,
    private readonly logger: Logger,
  ) {}

  /** `holder`'s release of `key` failed; the lease lapses `leaseMs` after it was taken at the latest. */
  add(key: AtlassianOauthStateKey, holder: string, leaseMs: number): void {
    if (this.closed) {
      return;
    }
    const id = stateKeyId(key);
    this.cancel(id);
    const lease: StrandedLease = { key, holder, lapsesAt: Date.now() + leaseMs };
    this.stranded.set(id, lease);
    this.schedule(id, lease);
  }

  /**
   * The holder id of `key`'s stranded lease, which the caller now takes over, or `undefined`.
   * Retries of its release stop.
   */
  claim(key: AtlassianOauthStateKey): string | undefined {
    const id = stateKeyId(key);
    const lease = this.stranded.get(id);
    this.cancel(id);
    return lease?.holder;
  }

  /** Offers every stranded lease back now: the database has just answered again. */
  retryAll(): void {
    for (const [id, lease] of this.stranded) {
      clearTimeout(lease.timer);
      void this.retry(id, lease);
    }
  }

  /** Stops every retry (the application is closing). */
  close(): void {
    this.closed = true;
    for (const id of [...this.stranded.keys()]) {
      this.cancel(id);
    }
  }

  private schedule(id: string, lease: StrandedLease): void {
    lease.timer = setTimeout(() => void this.retry(id, lease), STRANDED_LEASE_RETRY_MS);
    lease.timer.unref();
  }

  private async retry(id: string, lease: StrandedLease): Promise<void> {
    try {
      await this.leases.release(lease.key, lease.holder);
    } catch {
      if (this.stranded.get(id) === lease && Date.now() < lease.lapsesAt && !this.closed) {
        this.schedule(id, lease);
      } else if (this.stranded.get(id) === lease) {
        this.stranded.delete(id);
      }
      return;
    }
    if (this.stranded.get(id) === lease) {
      this.stranded.delete(id);
      this.logger.log(
        `Released the refresh lease of ${describeStateKey(lease.key.platform, lease.key.tenantId)} after the database came back`,
      );
    }
  }

  private cancel(id: string): void {
    const lease = this.stranded.get(id);
    if (lease) {
      clearTimeout(lease.timer);
      this.stranded.delete(id);
    }
  }
}
