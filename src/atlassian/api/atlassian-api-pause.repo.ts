import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { MoreThan, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../../database/database-outage.monitor';
import { BoundedCall, DatabaseRepo } from '../../database/database-repo';
import { AtlassianApiPauseEntity } from '../../database/entities';

/**
 * Stores and loads the pauses of REST calls shared by every process of the database (see
 * {@link AtlassianApiPauseEntity}). No rules here: `AtlassianApiPauses` decides what a row means.
 *
 * Both methods are on the path of a REST call (the read before it, through a cache of a second;
 * the write after a 429), so both are bounded by the connection's call limit (`@BoundedCall`).
 */
@Injectable()
export class AtlassianApiPauseRepo extends DatabaseRepo {
  constructor(
    @InjectRepository(AtlassianApiPauseEntity)
    private readonly repository: Repository<AtlassianApiPauseEntity>,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
  ) {
    super(outages);
  }

  /** The pauses that last past `now`, of every platform and tenant (a small table: rows live for minutes). */
  @BoundedCall()
  inForce(now: Date): Promise<AtlassianApiPauseEntity[]> {
    return this.repository.find({ where: { pausedUntil: MoreThan(now) } });
  }

  /** Replaces the scope's row with `row` (one `INSERT ... ON CONFLICT` / `ON DUPLICATE KEY` statement). */
  @BoundedCall()
  async save(row: AtlassianApiPauseEntity): Promise<void> {
    await this.repository.upsert(row, { conflictPaths: ['scope', 'platform', 'tenantId'] });
  }
}
