import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BeforeApplicationShutdown, Injectable, Logger, Optional } from '@nestjs/common';
import { DatabaseOutageMonitor } from '../../database/database-outage.monitor';
import { DatabaseUnavailableError } from '../../database/database.errors';
import { AtlassianOauthStateEntity } from '../../database/entities';
import { RedactsQueryFailures } from '../../database/query-failure-redaction';
import { AgentCoreMetrics, LeaseWaitOutcome } from '../../metrics/agent-core-metrics';
import { MeasuredStoreCall } from '../../metrics/measured-store-call';
import {
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRotateTimeoutError,
  AtlassianOauthStateConflictError,
  AtlassianOauthStateNotFoundError,
} from '../atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../atlassian-oauth-state.repo';
import {
  AtlassianOauthRefresh,
  AtlassianOauthRefreshBasis,
  AtlassianOauthRotateOptions,
  AtlassianOauthStateKey,
  AtlassianOauthTokens,
  describeStateKey,
  isValidFor,
  stateKeyId,
} from '../atlassian-oauth-state.types';
import { validateKey, validateRefresh, validateRotateOptions } from '../atlassian-oauth-state.validation';
import { AtlassianOauthRefreshLeaseRepo } from '../atlassian-oauth-refresh-lease.repo';
import { AtlassianOauthRefreshHealthRepo } from '../atlassian-oauth-refresh-health.repo';
import { AtlassianOauthEventPublisher } from '../events/atlassian-oauth-event.publisher';
import {
  AtlassianOauthGrantRefresh,
  AtlassianOauthGrantRefreshResult,
  AtlassianOauthTokenEndpoint,
  RefreshFailureRecorder,
  needsRefresh,
} from './grant-refresh';
import { blockedBy, failingOn } from './refresh-health.rules';
import { InProcessTurns } from './in-process-turns';
import { StrandedLeases } from './stranded-leases';
import { UnsavedRotations } from './unsaved-rotations';

/** The first pause of a caller polling for another process's lease, doubled up to {@link MAX_POLL_MS}. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 200;

type RotateLimits = Required<AtlassianOauthRotateOptions>;

/** What a caller holding the lease did: its result, and whether the lease stays held (an unsaved rotation holds it until stored). */
interface UnderLease<T> {
  readonly value: T;
  readonly keepLease: boolean;
}

/** One single-flight refresh: when a state needs it, what a state that does not need it gives, and the work under the lease. */
interface SingleFlight<T> {
  needs(state: AtlassianOauthStateEntity): boolean;
  current(state: AtlassianOauthStateEntity): T;
  underLease(basis: AtlassianOauthRefreshBasis, holder: string): Promise<UnderLease<T>>;
}

/** A failure of {@link AtlassianOauthRotationService.refreshGrant} under the lease, carried out of the lease loop. */
class GrantRefreshFailure extends Error {
  override readonly name = 'GrantRefreshFailure';

  constructor(
    override readonly cause: unknown,
    readonly from: AtlassianOauthStateEntity,
    readonly reachedEndpoint: boolean,
  ) {
    super('the grant refresh failed');
  }
}

/**
 * Refreshes Atlassian OAuth state once at a time per `(platform, tenantId)` across every process
 * that shares the database: a lease row decides who refreshes, callers of one process queue in
 * memory, and the result is stored with the conditional write of {@link AtlassianOauthStateRepo},
 * which fences out a holder whose lease lapsed. Inject it through `AtlassianModule`.
 *
 * A refresh takes 5 statements on every engine when no one else holds the lease: the state read
 * (one `LEFT JOIN` tells whether a refresh failure is on record, read then only), the lease `INSERT`, the same read under the lease,
 * the conditional `UPDATE`, the lease `DELETE` (`test/refresh-statements.e2e-spec.ts` counts them).
 */
@Injectable()
export class AtlassianOauthRotationService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(AtlassianOauthRotationService.name);
  private readonly turns = new InProcessTurns();
  private readonly stranded: StrandedLeases;
  private readonly unsaved: UnsavedRotations;
  private readonly failures: RefreshFailureRecorder;
  /** The last turn per key whose database call failed: callers that queued before it ended fail with it. */
  private readonly failedTurns = new Map<string, { at: number; error: DatabaseUnavailableError }>();
  private readonly databaseBack = (): void => {
    this.unsaved.retryAll();
    this.stranded.retryAll();
  };

  constructor(
    private readonly states: AtlassianOauthStateRepo,
    private readonly leases: AtlassianOauthRefreshLeaseRepo,
    /**
     * Tells when the database answers again. (Not named `outages`: the store's own calls report to
     * it, and a `rotate` served from an unsaved rotation must not count as the database answering.)
     */
    private readonly outageMonitor: DatabaseOutageMonitor,
    /** Each key's refresh health: read with the state, written when a grant's refresh fails. */
    private readonly health: AtlassianOauthRefreshHealthRepo,
    /** The application's metrics when it serves them: `rotate`'s duration, its lease waits, unsaved rotations. */
    @Optional() readonly metrics?: AgentCoreMetrics,
    /** What the host hears of a failed grant refresh: revoked, refresh failing. */
    @Optional() events?: AtlassianOauthEventPublisher,
  ) {
    this.failures = new RefreshFailureRecorder(health, this.logger, events);
    this.stranded = new StrandedLeases(leases, this.logger);
    this.unsaved = new UnsavedRotations(
      states,
      leases,
      this.logger,
      (count) => this.metrics?.unsavedRotations(count),
      (key, holder, leaseMs) => this.release(key, holder, leaseMs),
    );
    outageMonitor.on('outageEnded', this.databaseBack);
  }

  /**
   * On SIGTERM/SIGINT (Nest's shutdown hooks), before the database closes: one more write of every
   * rotation kept in memory, then the leases this process could not give back are left to lapse.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.outageMonitor.off('outageEnded', this.databaseBack);
    await this.unsaved.flush();
    this.stranded.close();
  }

  /**
   * The state of `(platform, tenantId)` that this process refreshed and could not store yet (the
   * database failed as the answer came), or `null`: it is the only one that works at Atlassian now,
   * and is written as soon as the database answers. Token values stay in memory.
   */
  unsavedState(platform: string, tenantId: string): AtlassianOauthStateEntity | null {
    return this.unsaved.state({ platform, tenantId }) ?? null;
  }

  /** How many rotations of this process wait in memory to be stored. */
  get unsavedCount(): number {
    return this.unsaved.size;
  }

  /**
   * Returns a state of one `(platform, tenantId)` that is valid for at least `minValidityMs`,
   * calling `refresh` only when the stored one is not, and never while another `refresh` of the
   * same key runs anywhere: single flight across every process that shares the database.
   *
   * - A stored `expiresAt` later than now plus `minValidityMs` is returned without a refresh (and
   *   without waiting for this process's other callers of the key); a `null` `expiresAt` always
   *   needs one.
   * - Otherwise the caller takes the key's lease (a row of `atlassian_oauth_refresh_lease`, taken
   *   atomically by the database and lasting `leaseMs`), reads the state again, calls
   *   `refresh(state)` if it still needs it, and stores the result with a conditional write that
   *   expects the refresh token it refreshed with. Callers of the same process queue in memory;
   *   the first of them polls the lease with a backoff of 10 to 200 ms. When the lease is
   *   released they re-read the state and refresh only if it still needs it.
   * - A holder that died keeps the others out only until its lease lapses. A holder whose lease
   *   lapsed and was taken over cannot overwrite the newer token: its write is refused and it
   *   resolves with the state that won.
   *
   * @returns the stored state that is valid afterwards (the newest one).
   * @throws AtlassianOauthStateValidationError for a blank key, a `refresh` that is not a
   *   function, or an option that is not a number in range (`minValidityMs` >= 0, `leaseMs` > 0,
   *   `waitMs` >= 0), before anything is read or written; also when `refresh` returns invalid tokens.
   * @throws AtlassianOauthStateNotFoundError when nothing is stored for the key (or it was deleted
   *   during the refresh): there is nothing to refresh from.
   * @throws AtlassianOauthRotateTimeoutError when `waitMs` passed while another caller held the
   *   lease; nothing was written.
   * @throws AtlassianOauthRefreshFailedError when `refresh` threw; the error it threw is `cause`,
   *   the stored state is unchanged and the lease is released.
   * @throws DatabaseUnavailableError when the database is away (see `AtlassianOauthStateRepo`);
   *   this process's callers of the key that queued behind the failing call fail with it at once;
   *   a lease this call took and could not give back is given back as soon as the database
   *   answers again, and this process's next `rotate` of the key takes it over at once.
   */
  @RedactsQueryFailures()
  @MeasuredStoreCall()
  async rotate(
    platform: string,
    tenantId: string,
    refresh: AtlassianOauthRefresh,
    options: AtlassianOauthRotateOptions = {},
  ): Promise<AtlassianOauthStateEntity> {
    const key = validateKey(platform, tenantId);
    validateRefresh(refresh);
    const limits = validateRotateOptions(options);
    return this.singleFlight(key, limits, undefined, {
      needs: (state) => !isValidFor(state, limits.minValidityMs),
      current: (state) => state,
      underLease: async (basis, holder) => {
        let tokens: AtlassianOauthTokens;
        try {
          tokens = await refresh(Object.assign(new AtlassianOauthStateEntity(), basis.state));
        } catch (cause) {
          throw new AtlassianOauthRefreshFailedError(key.platform, key.tenantId, cause);
        }
        const { state, unsaved } = await this.store(key, basis, tokens, holder, limits.leaseMs);
        return { value: state, keepLease: unsaved };
      },
    });
  }

  /**
   * Refreshes the grant of one `(platform, tenantId)` at `endpoint` when `need` calls for it, single
   * flight across every process like {@link rotate}, with the key's refresh health: what
   * `AtlassianOauthTokenService` does for `accessToken` and the keep-alive.
   *
   * Whether the state needs the refresh is decided before the lease and again under it (another
   * caller may have refreshed it meanwhile: `current`). Under the lease, a failure recorded on the
   * state that still applies (a revocation, a cooldown) ends it without calling the endpoint; a
   * failure of the endpoint is recorded before the lease is released, so the next holder sees it.
   *
   * @param seen the state and health the caller has just read (`readForRefresh`), so that they are
   *   not read again before the lease; `undefined` reads them.
   * @throws AtlassianOauthStateNotFoundError, AtlassianOauthRotateTimeoutError,
   *   DatabaseUnavailableError and the validation errors as {@link rotate} does; an endpoint's
   *   failure is the `failed` outcome, not an exception.
   */
  @RedactsQueryFailures()
  @MeasuredStoreCall()
  async refreshGrant(
    endpoint: AtlassianOauthTokenEndpoint,
    platform: string,
    tenantId: string,
    need: AtlassianOauthGrantRefresh,
    seen?: AtlassianOauthRefreshBasis,
  ): Promise<AtlassianOauthGrantRefreshResult> {
    const key = validateKey(platform, tenantId);
    const limits = validateRotateOptions({});
    try {
      return await this.singleFlight<AtlassianOauthGrantRefreshResult>(key, limits, seen, {
        needs: (state) => needsRefresh(state, need),
        current: (state) => ({ outcome: 'current', state }),
        underLease: async (basis, holder) => {
          const blocked = blockedBy(basis.health, basis.state);
          if (blocked) {
            throw new GrantRefreshFailure(blocked, basis.state, false);
          }
          let tokens: AtlassianOauthTokens;
          try {
            tokens = await endpoint.refresh(basis.state.refreshToken);
          } catch (error) {
            // Before the lease is released: whoever takes it next sees the failure.
            await this.failures.record(basis, error, need.cooldownMs);
            throw new GrantRefreshFailure(error, basis.state, true);
          }
          const { state, unsaved } = await this.store(key, basis, tokens, holder, limits.leaseMs);
          if (!unsaved && basis.health !== null) {
            // The row no longer applies to the new state (see `recordedOn`); removed so the table stays small.
            await this.health.clear(key.platform, key.tenantId).catch(() => undefined);
          }
          return {
            value: { outcome: 'refreshed', state, recovered: failingOn(basis.health, basis.state) },
            keepLease: unsaved,
          };
        },
      });
    } catch (error) {
      if (error instanceof GrantRefreshFailure) {
        return { outcome: 'failed', error: error.cause, from: error.from, reachedEndpoint: error.reachedEndpoint };
      }
      throw error;
    }
  }

  /**
   * The single flight of {@link rotate} and {@link refreshGrant}: an unsaved rotation of this
   * process first, then the stored state (`seen`, or one read), then this process's queue and the
   * database lease, the state read again under it, and `plan.underLease` if it still needs it.
   */
  private async singleFlight<T>(
    key: AtlassianOauthStateKey,
    limits: RotateLimits,
    seen: AtlassianOauthRefreshBasis | undefined,
    plan: SingleFlight<T>,
  ): Promise<T> {
    const pending = this.servedUnsaved(key, plan);
    if (pending) {
      return plan.current(pending);
    }
    // Almost every call finds a state that needs nothing: it is returned at the cost of one read,
    // without queueing behind this process's other callers of the key (only refreshers need the queue).
    const stored = seen ?? (await this.requireBasis(key));
    if (!plan.needs(stored.state)) {
      return plan.current(stored.state);
    }
    const started = performance.now();
    const deadline = Date.now() + limits.waitMs;
    const queued = this.turns.busy(key);
    const endTurn = await this.turns.take(key, deadline);
    if (!endTurn) {
      this.leaseWaited('timeout', started);
      throw new AtlassianOauthRotateTimeoutError(key.platform, key.tenantId, limits.waitMs);
    }
    try {
      // Callers queued behind a turn whose database call failed fail with it, together, instead of
      // each waiting out the query limit again in series.
      const failed = this.failedTurns.get(stateKeyId(key));
      if (failed && failed.at >= started) {
        throw failed.error;
      }
      const result = await this.inTurn(key, limits, deadline, started, !queued, plan);
      this.failedTurns.delete(stateKeyId(key));
      return result;
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        this.failedTurns.set(stateKeyId(key), { at: performance.now(), error });
      }
      throw error;
    } finally {
      endTurn();
    }
  }

  /**
   * The in-process turn is ours: take the lease, or poll until the state needs nothing or the lease
   * is ours. `fresh` (nobody of this process was before us, and the state was just read) goes
   * straight to the lease; a caller that waited in the queue reads the state first.
   */
  private async inTurn<T>(
    key: AtlassianOauthStateKey,
    limits: RotateLimits,
    deadline: number,
    started: number,
    fresh: boolean,
    plan: SingleFlight<T>,
  ): Promise<T> {
    for (let pause = FIRST_POLL_MS; ; pause = Math.min(2 * pause, MAX_POLL_MS), fresh = false) {
      const pending = this.servedUnsaved(key, plan);
      if (pending) {
        this.leaseWaited('refreshed_elsewhere', started);
        return plan.current(pending);
      }
      if (!fresh) {
        const { state } = await this.requireBasis(key);
        if (!plan.needs(state)) {
          // It needed a refresh before this caller queued: another holder refreshed it meanwhile.
          this.leaseWaited('refreshed_elsewhere', started);
          return plan.current(state);
        }
      }
      const holder = await this.acquireLease(key, limits.leaseMs, !fresh);
      if (holder !== null) {
        this.leaseWaited('acquired', started);
        let kept = false;
        try {
          // Someone may have refreshed just before the lease was ours.
          const basis = await this.requireBasis(key);
          if (!plan.needs(basis.state)) {
            return plan.current(basis.state);
          }
          const { value, keepLease } = await plan.underLease(basis, holder);
          kept = keepLease;
          return value;
        } finally {
          // An unsaved rotation holds the lease until it is stored (UnsavedRotations releases it).
          if (!kept) {
            await this.release(key, holder, limits.leaseMs);
          }
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.leaseWaited('timeout', started);
        throw new AtlassianOauthRotateTimeoutError(key.platform, key.tenantId, limits.waitMs);
      }
      await sleep(Math.min(remaining, pause / 2 + Math.random() * pause));
    }
  }

  /**
   * Records how long a `rotate` that found the stored state not valid enough waited, from then (its
   * place in the in-process queue included) until it took the lease, saw the state refreshed by
   * another holder, or gave up. Calls served by the first read never wait and are not recorded.
   */
  private leaseWaited(outcome: LeaseWaitOutcome, started: number): void {
    this.metrics?.leaseWait(outcome, (performance.now() - started) / 1000);
  }

  /** Takes over the lease this process could not give back, if there is one; otherwise tries to take it. */
  private async acquireLease(key: AtlassianOauthStateKey, leaseMs: number, look: boolean): Promise<string | null> {
    const stranded = this.stranded.claim(key);
    if (stranded !== undefined) {
      const holder = await this.leases.takeOver(key, stranded, leaseMs).catch((error: unknown) => {
        this.stranded.add(key, stranded, leaseMs);
        throw error;
      });
      if (holder !== null) {
        return holder;
      }
    }
    return this.leases.tryAcquire(key, leaseMs, look);
  }

  /** Gives the lease back; one that cannot be given back now is given back when the database answers. */
  private async release(key: AtlassianOauthStateKey, holder: string, leaseMs: number): Promise<void> {
    await this.leases.release(key, holder).catch((error: unknown) => {
      this.logger.warn(
        `Could not release the refresh lease of ${describeStateKey(key.platform, key.tenantId)}: ${error instanceof Error ? error.name : 'error'}; ` +
          'releasing it as soon as the database answers again',
      );
      this.stranded.add(key, holder, leaseMs);
    });
  }

  /**
   * The unsaved rotation of `key` when it needs nothing more, or `undefined` when there is none.
   * One that needs a refresh cannot be refreshed again before it is stored (the refresh would
   * rotate past a pair the store does not hold yet): the caller gets the write's error.
   */
  private servedUnsaved<T>(key: AtlassianOauthStateKey, plan: SingleFlight<T>): AtlassianOauthStateEntity | undefined {
    const pending = this.unsaved.state(key);
    if (pending === undefined) {
      return undefined;
    }
    if (!plan.needs(pending)) {
      return pending;
    }
    throw this.unsaved.lastError(key);
  }

  /**
   * Stores the tokens a refresh of `basis` returned, fenced on the refresh token it was read with.
   * A write that the database fails (it is away: `DatabaseUnavailableError`) keeps the pair in
   * memory, holding the lease, and serves it: `unsaved` is then true.
   */
  private async store(
    key: AtlassianOauthStateKey,
    basis: AtlassianOauthRefreshBasis,
    tokens: AtlassianOauthTokens,
    holder: string,
    leaseMs: number,
  ): Promise<{ state: AtlassianOauthStateEntity; unsaved: boolean }> {
    try {
      return { state: await this.states.replaceRefreshed(basis, tokens), unsaved: false };
    } catch (error) {
      if (error instanceof AtlassianOauthStateConflictError) {
        // Fenced: our lease lapsed and another holder stored a newer token; theirs wins.
        if (error.current) {
          return { state: error.current, unsaved: false };
        }
        throw new AtlassianOauthStateNotFoundError(key.platform, key.tenantId);
      }
      if (error instanceof DatabaseUnavailableError) {
        // Atlassian has rotated: this pair is the only one that works. Never drop it.
        return { state: this.unsaved.keep(key, basis.state, tokens, holder, leaseMs, error), unsaved: true };
      }
      throw error;
    }
  }

  private async requireBasis(key: AtlassianOauthStateKey): Promise<AtlassianOauthRefreshBasis> {
    const basis = await this.states.readForRefresh(key.platform, key.tenantId);
    if (!basis) {
      throw new AtlassianOauthStateNotFoundError(key.platform, key.tenantId);
    }
    return basis;
  }
}
