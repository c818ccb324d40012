import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AtlassianOauthKeepAliveService } from './atlassian-oauth-keep-alive.service';
import {
  ATLASSIAN_OAUTH_KEEP_ALIVE_SCHEDULE_OPTIONS,
  AtlassianOauthKeepAliveScheduleOptions,
  FIRST_KEEP_ALIVE_DELAY_MS,
} from './atlassian-oauth-keep-alive.options';

/**
 * Runs {@link AtlassianOauthKeepAliveService.run} on a schedule: the first sweep one minute after
 * boot (or one interval, if shorter), then one interval after each sweep ended, so sweeps of one
 * instance never overlap. A service restarted more often than the interval still sweeps. Every
 * instance may run it: the refresh lease keeps one refresh per key.
 *
 * On shutdown no new sweep starts, and a running one is stopped cleanly: the refreshes in flight
 * finish and are stored before the database closes (a refresh cut short would lose the token
 * Atlassian just rotated to).
 */
@Injectable()
export class AtlassianOauthKeepAliveSchedule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AtlassianOauthKeepAlive');
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  private sweep: Promise<void> | undefined;

  constructor(
    private readonly keepAlive: AtlassianOauthKeepAliveService,
    @Inject(ATLASSIAN_OAUTH_KEEP_ALIVE_SCHEDULE_OPTIONS)
    private readonly options: AtlassianOauthKeepAliveScheduleOptions,
  ) {}

  onApplicationBootstrap(): void {
    const { intervalMs } = this.options;
    if (intervalMs === 0) {
      this.logger.log('Keep-alive sweep off (ATLASSIAN_KEEPALIVE_INTERVAL_MS=0)');
      return;
    }
    this.logger.log(`Keep-alive sweep every ${intervalMs} ms; the first in ${this.firstDelayMs()} ms`);
    this.schedule(this.firstDelayMs());
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.stopping.abort();
    await this.sweep;
  }

  private firstDelayMs(): number {
    return Math.min(this.options.intervalMs, FIRST_KEEP_ALIVE_DELAY_MS);
  }

  private schedule(delayMs: number): void {
    if (this.stopping.signal.aborted) {
      return;
    }
    // unref: a pending sweep never keeps a process alive on its own.
    this.timer = setTimeout(() => {
      this.sweep = this.runOnce().finally(() => {
        this.sweep = undefined;
        this.schedule(this.options.intervalMs);
      });
    }, delayMs).unref();
  }

  private async runOnce(): Promise<void> {
    const started = Date.now();
    try {
      const counts = await this.keepAlive.run({ signal: this.stopping.signal });
      const how = this.stopping.signal.aborted ? 'stopped by shutdown' : 'done';
      this.logger.log(
        `Keep-alive sweep ${how} in ${Date.now() - started} ms: refreshed ${counts.refreshed}, fresh ${counts.fresh}, ` +
          `revoked ${counts.revoked}, failed ${counts.failed}`,
      );
    } catch (error) {
      // What it did before it failed is kept (lastSweep, the metrics) and told here.
      const counts = this.keepAlive.lastSweep?.counts;
      this.logger.error(
        `Keep-alive sweep failed after ${Date.now() - started} ms: ${error instanceof Error ? error.message : 'unknown error'}` +
          (counts
            ? `; before that: refreshed ${counts.refreshed}, fresh ${counts.fresh}, revoked ${counts.revoked}, failed ${counts.failed}`
            : ''),
      );
    }
  }
}
