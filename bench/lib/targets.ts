import { pairedRatio, VariantStats } from './measure';
import { ACCESS_TOKEN_VALID, ContentionResult, EngineResult, ROTATE_VALID, TargetResult } from './results';

/** The targets, each a ratio measured within one run. */
export const LIMITS = {
  /** `repo.get` mean time over the raw floor's, at every size. */
  getVsRaw: 4,
  /** `repo.upsert` mean time over bare `Repository.upsert` + read-back. */
  upsertVsBare: 1.3,
  /**
   * `repo.get`'s p99 growth (p99 of the median round at the largest size over the same at the
   * smallest) over the raw floor's own growth in the same run: what the table's size does to the
   * hardware (cache misses) is the floor's too, so only what the store adds to it counts.
   */
  getP99GrowthVsRaw: 1.1,
  /** Growth of the resident set while loading, beyond the pages an in-memory database itself holds (MiB). */
  loadRssGrowthMiB: 256,
  /** `repo.upsert` p99 over the raw floor's p99, four writer processes on one WAL file. */
  contentionP99VsRaw: 3,
  /** `rotate` / `accessToken` on a still-valid token (no refresh) mean time over `repo.get`'s. */
  rotateValidVsGet: 1.3,
} as const;

function stats(list: readonly VariantStats[], variant: string): VariantStats {
  const found = list.find((s) => s.variant === variant);
  if (found === undefined) {
    throw new Error(`no measurement of ${variant}`);
  }
  return found;
}

/** How many times slower `variant` is than `baseline`, paired round by round ({@link pairedRatio}). */
export function ratio(list: readonly VariantStats[], variant: string, baseline: string): number {
  return pairedRatio(stats(list, variant), stats(list, baseline));
}

const target = (name: string, where: string, measured: number, limit: number): TargetResult => ({
  target: name,
  where,
  measured,
  limit,
  met: measured <= limit,
});

/** Checks every target on every engine and size, and under contention. */
export function evaluateTargets(engines: readonly EngineResult[], contention?: ContentionResult): TargetResult[] {
  const results: TargetResult[] = [];
  for (const engine of engines) {
    for (const size of engine.sizes) {
      const where = `${engine.name}, ${size.rows.toLocaleString('en-US')} rows`;
      results.push(target('get within 4x of raw', where, ratio(size.get, 'repo.get', 'raw'), LIMITS.getVsRaw));
      results.push(
        target(
          'upsert within 1.3x of bare Repository.upsert + read-back',
          where,
          ratio(size.upsert, 'repo.upsert', 'typeorm upsert+findOneBy'),
          LIMITS.upsertVsBare,
        ),
      );
      results.push(
        target('get served by the unique index (EXPLAIN QUERY PLAN)', where, size.explain.usesUniqueIndex ? 0 : 1, 0),
      );
      results.push(
        target(
          'rotate on a still-valid token within 1.3x of get',
          where,
          ratio(size.get, ROTATE_VALID, 'repo.get'),
          LIMITS.rotateValidVsGet,
        ),
      );
      results.push(
        target(
          'accessToken on a still-valid token within 1.3x of get',
          where,
          ratio(size.get, ACCESS_TOKEN_VALID, 'repo.get'),
          LIMITS.rotateValidVsGet,
        ),
      );
    }
    const smallest = engine.sizes[0];
    const largest = engine.sizes[engine.sizes.length - 1];
    if (smallest !== undefined && largest !== undefined && largest !== smallest) {
      const growth = (variant: string): number =>
        stats(largest.get, variant).p99MedianRoundUs / stats(smallest.get, variant).p99MedianRoundUs;
      const storeGrowth = growth('repo.get');
      const rawGrowth = growth('raw');
      results.push(
        target(
          `get p99 growth ${largest.rows.toLocaleString('en-US')} / ${smallest.rows.toLocaleString('en-US')} rows within 1.1x of the raw driver's`,
          `${engine.name} (repo ${storeGrowth.toFixed(2)}x, raw ${rawGrowth.toFixed(2)}x)`,
          Math.round((storeGrowth / rawGrowth) * 100) / 100,
          LIMITS.getP99GrowthVsRaw,
        ),
      );
      // An in-memory database is itself resident: only the growth beyond its own pages is overhead.
      const { load } = largest;
      const inMemory = engine.engine === 'sqlite-memory';
      const rssGrowth =
        load.peakRssMiB - load.rssBeforeMiB - (inMemory ? load.databaseMiB - load.databaseBeforeMiB : 0);
      results.push(
        target(
          `RSS growth while loading to ${largest.rows.toLocaleString('en-US')} rows (MiB${inMemory ? ', beyond the database pages' : ''})`,
          engine.name,
          rssGrowth,
          LIMITS.loadRssGrowthMiB,
        ),
      );
    }
  }
  if (contention !== undefined) {
    const p99 = (variant: string): number =>
      contention.variants.find((v) => v.variant === variant)?.p99Us ?? Number.NaN;
    results.push(
      target(
        `upsert p99 with ${contention.writers} writer processes within 3x of raw`,
        `${contention.engine}, ${contention.rows.toLocaleString('en-US')} rows`,
        Math.round((p99('repo.upsert') / p99('raw')) * 100) / 100,
        LIMITS.contentionP99VsRaw,
      ),
    );
  }
  return results;
}
