import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReencryptCounts } from '../../src/atlassian';
import { writeReadmeBlock } from './readme';
import type { ReencryptFloorRun } from './reencrypt-floor';
import { MachineInfo } from './results';
import { int, table } from './report';

/** What the rows held before a `bench:reencrypt` run: sealed under the previous key, or plaintext. */
export type ReencryptStart = 'old-key' | 'plaintext';

/** One engine's run of `bench:reencrypt`, as it prints it (one JSON line) and saves it. */
export interface ReencryptRun {
  readonly engine: 'sqlite-file' | 'sqlite-memory' | 'postgres' | 'mariadb';
  readonly database: string;
  readonly from: ReencryptStart;
  readonly rows: number;
  readonly batchSize: number;
  readonly seedMs: number;
  readonly counts: ReencryptCounts;
  /** Wall time of the run, without the forced GCs of the heap samples. */
  readonly ms: number;
  readonly rowsPerSecond: number;
  /** This process's CPU time (the database server's is not in it). */
  readonly cpuMs: number;
  readonly rowsPerCpuSecond: number;
  /**
   * Where `ms` went (the rest is the service's own work, the event loop and GC): reading pages,
   * opening the stored tokens (nothing to open in a legacy plaintext row), sealing them, writing
   * the batches back. Timed by wrapping those methods in the bench process.
   */
  readonly phasesMs?: { read: number; open: number; seal: number; write: number };
  /**
   * The raw driver doing the same on a copy of the same rows, in the same run
   * (bench/lib/reencrypt-floor.ts): the mean of `floorRuns`, one run before `reencryptAll` and
   * one after. Absent from older results.
   */
  readonly floor?: ReencryptFloorRun;
  readonly floorRuns?: readonly ReencryptFloorRun[];
  /** `ms` over the floor's. */
  readonly vsFloor?: number;
  readonly gcBetweenBatchesMs: number;
  readonly heapAfterGcMB: { first: number; min: number; max: number; last: number } | null;
  readonly gcExposed: boolean;
  readonly rerun: { counts: ReencryptCounts; ms: number };
}

/** A `bench:reencrypt --out` file: when it ran, on what, and each engine's run. */
export interface ReencryptResult {
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly runs: readonly ReencryptRun[];
}

/**
 * `reencryptAll`'s wall time over the floor's (the raw driver doing the same on a copy of the same
 * rows, in the same run): the limit on every engine. What is left above the floor is ours; the
 * floor itself is the hardware's and the driver's.
 */
export const REENCRYPT_VS_FLOOR_LIMIT = 1.3;

/** The committed results docs/performance.md's re-encryption table is rendered from: a key rotation, then legacy plaintext. */
export const COMMITTED_REENCRYPT_RESULTS = {
  'old-key': join(__dirname, '..', 'results', 'reencrypt.json'),
  plaintext: join(__dirname, '..', 'results', 'reencrypt-plaintext.json'),
} as const;

const START_NAMES: Record<ReencryptStart, string> = {
  'old-key': 'key rotation (every token opened and sealed again)',
  plaintext: 'legacy plaintext (every token sealed)',
};

/** The re-encryption table of docs/performance.md: every engine of each result, with its target and whether it is met. */
export function renderReencryptTable(results: readonly ReencryptResult[]): string {
  const rows = results.flatMap((result) =>
    result.runs.map((run) => {
      const phases = (ms: number, p: { read: number; open: number; seal: number; write: number }): string =>
        [p.read, p.open, p.seal, p.write, ms].map((value) => (value / 1000).toFixed(2)).join(' / ');
      const heap = run.heapAfterGcMB === null ? '-' : `${run.heapAfterGcMB.min}-${run.heapAfterGcMB.max}`;
      return [
        START_NAMES[run.from],
        run.engine,
        int(run.rows),
        int(run.rowsPerSecond),
        run.floor === undefined ? '-' : int(run.floor.rowsPerSecond),
        run.vsFloor === undefined ? '-' : `${run.vsFloor.toFixed(2)}x`,
        `${REENCRYPT_VS_FLOOR_LIMIT}x`,
        run.vsFloor === undefined ? '-' : run.vsFloor <= REENCRYPT_VS_FLOOR_LIMIT ? 'yes' : '**no**',
        int(run.rowsPerCpuSecond),
        // This process's CPU time is what a shared machine's queueing cannot inflate.
        run.floor === undefined ? '-' : `${(run.cpuMs / run.floor.cpuMs).toFixed(2)}x`,
        // Results saved before the phases were timed have none.
        run.phasesMs === undefined ? '-' : phases(run.ms, run.phasesMs),
        run.floor === undefined ? '-' : phases(run.floor.ms, run.floor.phasesMs),
        heap,
        (run.rerun.ms / 1000).toFixed(1),
        result.machine.commit,
      ];
    }),
  );
  const machines = [
    ...new Set(results.map(({ machine }) => `nproc ${machine.nproc}, ${machine.cpuModel}, Node ${machine.node}`)),
  ];
  return [
    `Runs ${results.map((result) => result.startedAt).join(' and ')}; machine: ${machines.join('; ')}.`,
    '',
    table(
      [
        'rows before',
        'engine',
        'rows',
        'rows/s',
        'floor rows/s',
        'time vs floor',
        'limit',
        'met',
        'rows per CPU-second',
        'CPU time vs floor',
        'read / open / seal / write / whole run, s',
        'floor: read / open / seal / write / whole run, s',
        'heap after GC, MB (min-max over the run)',
        're-run over the finished table, s',
        'commit',
      ],
      rows,
    ),
  ].join('\n');
}

/** The committed results, key rotation first. */
export function readCommittedReencryptResults(): ReencryptResult[] {
  return Object.values(COMMITTED_REENCRYPT_RESULTS).map(
    (path) => JSON.parse(readFileSync(path, 'utf8')) as ReencryptResult,
  );
}

/** Renders the committed results into docs/performance.md's re-encryption block; false when its markers are missing. */
export function updateReadmeReencryptTable(): boolean {
  return writeReadmeBlock('reencrypt', renderReencryptTable(readCommittedReencryptResults()));
}
