/** Rows inserted per transaction while seeding: big enough to be fast, small enough to stay flat in memory. */
export const SEED_BATCH = 10_000;

/** Memory while seeding, sampled after every batch. */
export interface LoadStats {
  readonly fromRows: number;
  readonly toRows: number;
  readonly seconds: number;
  readonly rowsPerSec: number;
  readonly rssBeforeMiB: number;
  readonly peakRssMiB: number;
  readonly peakHeapUsedMiB: number;
  /** What the database held before and after loading. */
  readonly databaseBeforeMiB: number;
  readonly databaseMiB: number;
}

const MIB = 1024 * 1024;

/**
 * Runs `batch` over `[fromRows, toRows)` in slices of {@link SEED_BATCH}, sampling this process's
 * resident set and heap after each: the load's rows must be generated one at a time, never
 * collected, for the peak to stay flat however large the table grows.
 */
export async function measureLoad(
  fromRows: number,
  toRows: number,
  batch: (from: number, to: number) => void | Promise<void>,
  databaseBytes: () => number | Promise<number>,
): Promise<LoadStats> {
  const databaseBefore = await databaseBytes();
  const rssBefore = process.memoryUsage.rss();
  let peakRss = rssBefore;
  let peakHeap = process.memoryUsage().heapUsed;
  const start = process.hrtime.bigint();
  for (let from = fromRows; from < toRows; from += SEED_BATCH) {
    await batch(from, Math.min(toRows, from + SEED_BATCH));
    const memory = process.memoryUsage();
    peakRss = Math.max(peakRss, memory.rss);
    peakHeap = Math.max(peakHeap, memory.heapUsed);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    fromRows,
    toRows,
    seconds: Math.round(seconds * 100) / 100,
    rowsPerSec: seconds > 0 ? Math.round((toRows - fromRows) / seconds) : 0,
    rssBeforeMiB: Math.round(rssBefore / MIB),
    peakRssMiB: Math.round(peakRss / MIB),
    peakHeapUsedMiB: Math.round(peakHeap / MIB),
    databaseBeforeMiB: Math.round(databaseBefore / MIB),
    databaseMiB: Math.round((await databaseBytes()) / MIB),
  };
}
