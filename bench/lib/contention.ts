import { join } from 'node:path';
import { ContentionReply, ContentionRequest, ContentionVariant } from '../contention-worker';
import { percentile, round } from './measure';
import { exited, forkBench, nextMessage } from './processes';
import { ContentionJob } from './profile';
import { ContentionPhase, ContentionResult } from './results';

/**
 * The raw floor, the repo, and between them the raw floor plus a busy loop as long as the CPU
 * time the repo adds per upsert (measured by one writer alone before the phases): what SQLite's
 * lock waits look like when every writer needs the CPU that long, with nothing else of the repo.
 */
const VARIANTS: readonly ContentionVariant[] = ['raw', 'raw + repo CPU', 'repo.upsert'];

/** Upserts per variant that one writer runs alone to measure the CPU time per upsert. */
const CALIBRATION_OPS = 300;

/**
 * Several processes upserting random tenants of one WAL file at once. Phases rotate through the
 * variants; in each phase every writer starts together and does the same number of upserts.
 * Throughput is all writers' upserts over the slowest writer's wall time.
 */
export async function runContention(job: ContentionJob): Promise<ContentionResult> {
  const script = join(__dirname, '..', 'contention-worker.ts');
  const writers = Array.from({ length: job.writers }, () => forkBench(script, [job.database], null));
  const ask = <T extends ContentionReply['type']>(
    index: number,
    request: ContentionRequest,
    type: T,
  ): Promise<Extract<ContentionReply, { type: T }>> => {
    const child = writers[index];
    if (child === undefined) {
      throw new Error(`no writer ${index}`);
    }
    const answer = nextMessage<ContentionReply>(child, (m) => m.type === type || m.type === 'failed');
    child.send(request);
    return answer.then((m) => {
      if (m.type === 'failed') {
        throw new Error(`contention writer ${index} failed: ${m.error}`);
      }
      return m as Extract<ContentionReply, { type: T }>;
    });
  };
  try {
    const ready = await Promise.all(
      writers.map((child) => nextMessage<ContentionReply>(child, (m) => m.type === 'ready' || m.type === 'failed')),
    );
    const first = ready[0];
    if (first?.type !== 'ready') {
      throw new Error(`a contention writer failed to boot: ${first?.type === 'failed' ? first.error : 'no answer'}`);
    }
    await ask(0, { type: 'seed', rows: job.rows }, 'seeded');
    const calibration = await ask(
      0,
      { type: 'calibrate', ops: Math.min(CALIBRATION_OPS, job.rows), rows: job.rows },
      'calibrated',
    );
    const spinUs = Math.max(0, calibration.repoCpuUs - calibration.rawCpuUs);
    const samples = new Map<string, { latencies: number[]; wallNs: number; ops: number; errors: number }>(
      VARIANTS.map((v) => [v, { latencies: [], wallNs: 0, ops: 0, errors: 0 }]),
    );
    for (let phase = 0; phase < job.phases; phase++) {
      const variant = VARIANTS[phase % VARIANTS.length] as ContentionVariant;
      const done = await Promise.all(
        writers.map((_, index) =>
          ask(
            index,
            { type: 'run', variant, ops: job.opsPerPhase, rows: job.rows, seed: phase * 64 + index + 1, spinUs },
            'done',
          ),
        ),
      );
      const sample = samples.get(variant);
      if (sample === undefined) {
        throw new Error(`unknown variant ${variant}`);
      }
      for (const writer of done) {
        sample.latencies.push(...writer.latenciesNs);
        sample.errors += writer.errors;
        sample.ops += writer.latenciesNs.length;
      }
      sample.wallNs += Math.max(...done.map((writer) => writer.wallNs));
    }
    const rowsAfter = (await ask(0, { type: 'count' }, 'count')).rows;
    const variants: ContentionPhase[] = [...samples.entries()].map(([variant, sample]) => {
      const sorted = Float64Array.from(sample.latencies).sort();
      return {
        variant,
        writers: job.writers,
        ops: sample.ops,
        wallSeconds: round(sample.wallNs / 1e9, 2),
        opsPerSec: round(sample.ops / (sample.wallNs / 1e9), 0),
        p50Us: round(percentile(sorted, 0.5) / 1e3, 2),
        p99Us: round(percentile(sorted, 0.99) / 1e3, 2),
        errors: sample.errors,
      };
    });
    return {
      engine: 'sqlite-wal',
      writers: job.writers,
      rows: job.rows,
      pragmas: first.pragmas,
      cpuPerUpsertUs: { raw: round(calibration.rawCpuUs, 1), repo: round(calibration.repoCpuUs, 1) },
      variants,
      rowsAfter,
    };
  } finally {
    for (const child of writers) {
      if (child.connected) {
        child.send({ type: 'stop' } satisfies ContentionRequest);
      }
    }
    await Promise.all(writers.map((child) => exited(child)));
  }
}
