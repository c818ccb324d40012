import { VariantStats } from './measure';
import { LoadStats } from './load';
import type { KeepAliveBenchResult } from './keep-alive';
import type { StormResult } from './storm';

/** The variant of the get table that is `repo.rotate` on a token that is still valid (no refresh). */
export const ROTATE_VALID = 'repo.rotate (still valid)';

/** The variant of the get table that is the token service's `accessToken` on a still-valid token. */
export const ACCESS_TOKEN_VALID = 'tokens.accessToken (still valid)';

/** The query plan of the get query: the repo's exact statement, and the raw floor's. */
export interface ExplainResult {
  readonly repoSql: string;
  readonly repoPlan: string[];
  readonly rawPlan: string[];
  /** True when both plans search the unique index on `(platform, tenant_id)` rather than scan. */
  readonly usesUniqueIndex: boolean;
}

export interface SizeResult {
  readonly rows: number;
  readonly load: LoadStats;
  readonly explain: ExplainResult;
  readonly get: VariantStats[];
  readonly upsert: VariantStats[];
  /** Read + conditional write (a refresh's database work), see `rotateVariants`. */
  readonly rotate: VariantStats[];
}

export interface EngineResult {
  /** The engine and whether tokens are encrypted: `sqlite-wal encrypted`. */
  readonly name: string;
  readonly engine: string;
  readonly encryption: boolean;
  /** True when the seeded rows hold sealed envelopes (checked after seeding), false when plaintext. */
  readonly storedSealed: boolean;
  readonly pragmas: Record<string, unknown>;
  readonly sizes: SizeResult[];
  /** Peak resident set of the worker over its whole life (`process.resourceUsage().maxRSS`). */
  readonly maxRssMiB: number;
  readonly seconds: number;
}

export interface ContentionPhase {
  readonly variant: string;
  readonly writers: number;
  readonly ops: number;
  readonly wallSeconds: number;
  readonly opsPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly errors: number;
}

export interface ContentionResult {
  readonly engine: string;
  readonly writers: number;
  readonly rows: number;
  readonly pragmas: Record<string, unknown>;
  /** CPU time (user + system) per upsert of one writer alone, raw and through the repo. */
  readonly cpuPerUpsertUs: { readonly raw: number; readonly repo: number };
  /** One entry per variant, all its phases together. */
  readonly variants: ContentionPhase[];
  /** Rows in the table afterwards: writers only update, so it equals `rows`. */
  readonly rowsAfter: number;
}

export interface TargetResult {
  readonly target: string;
  readonly where: string;
  readonly measured: number;
  readonly limit: number;
  readonly met: boolean;
}

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly totalMemMiB: number;
  readonly commit: string;
}

export interface BenchResult {
  readonly quick: boolean;
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: MachineInfo;
  readonly engines: EngineResult[];
  readonly contention: ContentionResult;
  readonly targets: TargetResult[];
  /** The keep-alive sweep (bench/lib/keep-alive.ts); absent from runs made before it existed. */
  readonly keepAlive?: KeepAliveBenchResult;
  /** The refresh storm (bench/lib/storm.ts); absent from runs made before it existed. */
  readonly storm?: StormResult;
}
