/** One way of doing an operation that the benchmark times against the others. */
export interface Variant<Input> {
  /** Short name used in the report (`raw`, `repo`, ...). */
  readonly name: string;
  /** Does the operation once; `seq` is unique across the whole run (fresh token values). */
  run(input: Input, seq: number): unknown;
}

/** Latency and throughput of one variant. */
export interface VariantStats {
  readonly variant: string;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /**
   * The median over rounds of each round's p99: a tail that one burst of a noisy neighbour (a
   * shared machine, another process's checkpoint) cannot set on its own.
   */
  readonly p99MedianRoundUs: number;
  /** Mean time per operation in each measured round, in round order (for paired ratios). */
  readonly roundMeanUs: number[];
}

export interface MeasureOptions<Input> {
  /** Measured rounds; every variant runs one block per round, starting variant rotating. */
  readonly rounds: number;
  /** Operations per variant per round. */
  readonly block: number;
  /** Rounds run first and thrown away (JIT, statement caches, page cache). */
  readonly warmupRounds: number;
  /** The inputs of one round: every variant gets the same ones, in the same order. */
  readonly inputs: (round: number, block: number) => Input[];
}

let sequence = 0;

/** A number never handed out before in this process: makes every written token distinct. */
export function nextSeq(): number {
  return ++sequence;
}

/**
 * Times variants of one operation interleaved: in each round every variant runs a block of the
 * same inputs, and the variant that goes first rotates. Noise on a shared machine (another
 * process, a GC, a checkpoint) then lands on all variants alike rather than on whichever ran
 * last, so ratios measured in one call are comparable.
 */
export async function measureInterleaved<Input>(
  variants: readonly Variant<Input>[],
  options: MeasureOptions<Input>,
): Promise<VariantStats[]> {
  const total = options.rounds * options.block;
  const latencies = variants.map(() => new Float64Array(total));
  const roundNs = variants.map(() => new Float64Array(options.rounds));
  for (let round = -options.warmupRounds; round < options.rounds; round++) {
    const inputs = options.inputs(round, options.block);
    for (let k = 0; k < variants.length; k++) {
      const index = (((round + k) % variants.length) + variants.length) % variants.length;
      const variant = variants[index] as Variant<Input>;
      const sink = latencies[index] as Float64Array;
      const blockStart = process.hrtime.bigint();
      for (let i = 0; i < inputs.length; i++) {
        const start = process.hrtime.bigint();
        await variant.run(inputs[i] as Input, nextSeq());
        if (round >= 0) {
          sink[round * options.block + i] = Number(process.hrtime.bigint() - start);
        }
      }
      if (round >= 0) {
        (roundNs[index] as Float64Array)[round] = Number(process.hrtime.bigint() - blockStart);
      }
    }
  }
  return variants.map((variant, index) =>
    summarize(variant.name, latencies[index] as Float64Array, roundNs[index] as Float64Array, options.block),
  );
}

/** Ops/s and mean from the wall time of the blocks; percentiles from the per-operation times. */
export function summarize(
  variant: string,
  latenciesNs: Float64Array,
  roundNs: Float64Array,
  block: number,
): VariantStats {
  const sorted = Float64Array.from(latenciesNs).sort();
  const ops = sorted.length;
  const wallNs = roundNs.reduce((sum, ns) => sum + ns, 0);
  const roundP99s = Float64Array.from(roundNs, (_, r) =>
    percentile(Float64Array.from(latenciesNs.subarray(r * block, (r + 1) * block)).sort(), 0.99),
  ).sort();
  return {
    variant,
    ops,
    opsPerSec: round(ops / (wallNs / 1e9), 0),
    meanUs: round(wallNs / ops / 1e3, 2),
    p50Us: round(percentile(sorted, 0.5) / 1e3, 2),
    p99Us: round(percentile(sorted, 0.99) / 1e3, 2),
    p99MedianRoundUs: round(median(roundP99s) / 1e3, 2),
    roundMeanUs: Array.from(roundNs, (ns) => round(ns / block / 1e3, 3)),
  };
}

/** Median of an ascending array. */
export function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) {
    return Number.NaN;
  }
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * How many times slower `variant` is than `baseline`: the median over rounds of the ratio of
 * their mean times in that round. Both ran back to back on the same inputs, so a noisy round
 * moves both and the median ignores the rounds where it did not.
 */
export function pairedRatio(variant: VariantStats, baseline: VariantStats): number {
  const ratios = variant.roundMeanUs.map((us, r) => us / (baseline.roundMeanUs[r] ?? Number.NaN)).sort((a, b) => a - b);
  return round(median(ratios), 2);
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
