import { FULL_STORM, QUICK_STORM, StormPlan } from './storm';

/** How much work one measurement does. */
export interface Effort {
  readonly rounds: number;
  readonly block: number;
  readonly warmupRounds: number;
}

/** What one engine worker is asked to do. */
export interface EngineJob {
  /** `sqlite-memory`, `sqlite-wal`, or a server: `postgres`, `mariadb`. */
  readonly engine: 'sqlite-memory' | 'sqlite-wal' | 'postgres' | 'mariadb';
  /** Tokens sealed with AES-256-GCM (`OAUTH_STATE_ENCRYPTION_KEYS` set for the worker) or plaintext. */
  readonly encryption: boolean;
  /** `:memory:`, the file path, or the server URL of a fresh database. */
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
  /** Phases rotate through the variants (raw, raw + repo CPU, repo, raw, ...): a multiple of 3. */
  readonly phases: number;
  /** Upserts per writer per phase. */
  readonly opsPerPhase: number;
}

export interface BenchPlan {
  readonly quick: boolean;
  /** The refresh storm (bench/lib/storm.ts). */
  readonly storm: StormPlan;
  readonly engines: readonly Omit<EngineJob, 'database'>[];
  readonly contention: Omit<ContentionJob, 'database'>;
}

const FULL_SIZES = [1_000, 100_000, 1_000_000];

/** Reads are cheap: many of them. */
const GET_EFFORT: Effort = { rounds: 16, block: 400, warmupRounds: 2 };

const MEMORY = {
  engine: 'sqlite-memory' as const,
  sizes: FULL_SIZES,
  get: GET_EFFORT,
  upsert: { rounds: 16, block: 150, warmupRounds: 2 },
};

/** Every upsert on the file is fsynced (synchronous=FULL): fewer of them, as many rounds. */
const WAL = {
  engine: 'sqlite-wal' as const,
  sizes: FULL_SIZES,
  get: GET_EFFORT,
  upsert: { rounds: 10, block: 40, warmupRounds: 1 },
};

/**
 * A server's table is loaded through the network in multi-row INSERTs of 500 rows, one
 * transaction per 10,000 (about 25,000 rows/s here): 100k rows in seconds. 1M would add a
 * minute per server and tell little more than 100k does about an indexed lookup over a socket.
 * Every write is a committed transaction on the server.
 */
const SERVER = {
  sizes: [1_000, 100_000],
  get: { rounds: 10, block: 200, warmupRounds: 1 },
  upsert: { rounds: 8, block: 25, warmupRounds: 1 },
};

/** True for the engines that need a server (and a fresh database on it). */
export const isServerEngine = (engine: EngineJob['engine']): engine is 'postgres' | 'mariadb' =>
  engine === 'postgres' || engine === 'mariadb';

/**
 * Encryption costs per call, whatever the table's size, and sealing 2M tokens to seed 1M rows
 * takes minutes here: the encrypted engines stop at 100k rows.
 */
const ENCRYPTED_SIZES = [1_000, 100_000];

/** The full run: the sizes, each engine with and without encryption, in about five minutes. */
export const FULL_PLAN: BenchPlan = {
  quick: false,
  storm: FULL_STORM,
  engines: [
    { ...MEMORY, encryption: false },
    { ...MEMORY, encryption: true, sizes: ENCRYPTED_SIZES },
    { ...WAL, encryption: false },
    { ...WAL, encryption: true, sizes: ENCRYPTED_SIZES },
    { ...SERVER, engine: 'postgres', encryption: false },
    { ...SERVER, engine: 'mariadb', encryption: false },
  ],
  contention: { writers: 4, rows: 20_000, phases: 15, opsPerPhase: 400 },
};

/** How an engine job is named in the report: `sqlite-wal`, `sqlite-wal encrypted`. */
export function engineName(job: Pick<EngineJob, 'engine' | 'encryption'>): string {
  return job.encryption ? `${job.engine} encrypted` : job.engine;
}

/** `--quick`: tiny sizes, a few iterations; checks that everything runs, proves nothing about speed. */
export const QUICK_PLAN: BenchPlan = {
  quick: true,
  storm: QUICK_STORM,
  engines: FULL_PLAN.engines.map((engine) => ({
    ...engine,
    sizes: [100, 1_000],
    get: { rounds: 2, block: 20, warmupRounds: 1 },
    upsert: { rounds: 2, block: 10, warmupRounds: 1 },
  })),
  contention: { writers: 4, rows: 200, phases: 3, opsPerPhase: 10 },
};
