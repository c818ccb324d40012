/** How much work one measurement does. */
export interface Effort {
  readonly rounds: number;
  readonly block: number;
  readonly warmupRounds: number;
}

/** What one engine worker is asked to do. */
export interface EngineJob {
  /** `sqlite-memory` or `sqlite-wal`; server engines get their own names. */
  readonly engine: string;
  /** Tokens sealed with AES-256-GCM (`OAUTH_STATE_ENCRYPTION_KEYS` set for the worker) or plaintext. */
  readonly encryption: boolean;
  /** `:memory:` or the file path. */
  readonly database: string;
  /** Table sizes, ascending: the table grows from one to the next. */
  readonly sizes: readonly number[];
  readonly get: Effort;
  readonly upsert: Effort;
}

/** The contention run: several processes writing to one file. */
export interface ContentionJob {
  readonly database: string;
  readonly writers: number;
  readonly rows: number;
  /** Phases alternate between the variants (raw, repo, raw, repo, ...). */
  readonly phases: number;
  /** Upserts per writer per phase. */
  readonly opsPerPhase: number;
}

export interface BenchPlan {
  readonly quick: boolean;
  readonly engines: readonly Omit<EngineJob, 'database'>[];
  readonly contention: Omit<ContentionJob, 'database'>;
}

const FULL_SIZES = [1_000, 100_000, 1_000_000];

/** Reads are cheap: many of them. */
const GET_EFFORT: Effort = { rounds: 16, block: 400, warmupRounds: 2 };

const MEMORY = { engine: 'sqlite-memory', sizes: FULL_SIZES, get: GET_EFFORT, upsert: { rounds: 16, block: 150, warmupRounds: 2 } };

/** Every upsert on the file is fsynced (synchronous=FULL): fewer of them, as many rounds. */
const WAL = { engine: 'sqlite-wal', sizes: FULL_SIZES, get: GET_EFFORT, upsert: { rounds: 10, block: 40, warmupRounds: 1 } };

/**
 * Encryption costs per call, whatever the table's size, and sealing 2M tokens to seed 1M rows
 * takes minutes here: the encrypted engines stop at 100k rows.
 */
const ENCRYPTED_SIZES = [1_000, 100_000];

/** The full run: the sizes, each engine with and without encryption, in about five minutes. */
export const FULL_PLAN: BenchPlan = {
  quick: false,
  engines: [
    { ...MEMORY, encryption: false },
    { ...MEMORY, encryption: true, sizes: ENCRYPTED_SIZES },
    { ...WAL, encryption: false },
    { ...WAL, encryption: true, sizes: ENCRYPTED_SIZES },
  ],
  contention: { writers: 4, rows: 20_000, phases: 4, opsPerPhase: 200 },
};

/** How an engine job is named in the report: `sqlite-wal`, `sqlite-wal encrypted`. */
export function engineName(job: Pick<EngineJob, 'engine' | 'encryption'>): string {
  return job.encryption ? `${job.engine} encrypted` : job.engine;
}

/** `--quick`: tiny sizes, a few iterations; checks that everything runs, proves nothing about speed. */
export const QUICK_PLAN: BenchPlan = {
  quick: true,
  engines: FULL_PLAN.engines.map((engine) => ({
    ...engine,
    sizes: [100, 1_000],
    get: { rounds: 2, block: 20, warmupRounds: 1 },
    upsert: { rounds: 2, block: 10, warmupRounds: 1 },
  })),
  contention: { writers: 4, rows: 200, phases: 2, opsPerPhase: 10 },
};
