import { Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { HealthIndicatorResult, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { AgentCoreMetrics } from '../metrics/agent-core-metrics';

/** How long the database has to answer before the service counts as not ready. */
export const DATABASE_HEALTH_TIMEOUT_MS = 1_000;

/**
 * The terminus health indicator of the database (`database.health.ts`, as Nest's terminus docs name
 * custom indicators): asks it `SELECT 1` (terminus's TypeORM ping) with a {@link DATABASE_HEALTH_TIMEOUT_MS}
 * limit. Each answer goes to the metrics (`agent_core_database_up`, outages), which also run this
 * check at every scrape. A change between answering and not answering is logged once, not every
 * probe: an orchestrator probes every few seconds.
 */
@Injectable()
export class DatabaseHealthIndicator implements OnModuleInit {
  private readonly logger = new Logger(DatabaseHealthIndicator.name);
  private downSince: number | undefined;

  constructor(
    private readonly typeorm: TypeOrmHealthIndicator,
    @Optional() private readonly metrics?: AgentCoreMetrics,
  ) {}

  onModuleInit(): void {
    this.metrics?.monitorDatabase(() => this.check());
  }

  /** The terminus result for key `database`: `up`, or `down` with why (a timeout, or no detail: no driver text). */
  async check(): Promise<HealthIndicatorResult<'database'>> {
    const result = await this.typeorm.pingCheck('database', { timeout: DATABASE_HEALTH_TIMEOUT_MS });
    const up = result.database.status === 'up';
    this.metrics?.databaseAvailability(up);
    if (!up && this.downSince === undefined) {
      this.downSince = Date.now();
      this.logger.warn(`The database does not answer within ${DATABASE_HEALTH_TIMEOUT_MS} ms: not ready`);
    } else if (up && this.downSince !== undefined) {
      this.logger.log(`The database answers again after ${((Date.now() - this.downSince) / 1000).toFixed(1)} s: ready`);
      this.downSince = undefined;
    }
    return result;
  }
}
