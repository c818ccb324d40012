import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClientBenchResult } from '../bench/lib/api-client';
import { BenchResult } from '../bench/lib/results';
import { chooseServers } from '../bench/lib/servers';
import { SERVERS_UNDER_TEST, serverTestUrl } from './support/server-databases';

const ROOT = join(__dirname, '..');

/**
 * The servers the bench may reach: only those named by the suites' variables, which the child
 * inherits. Without them it must measure SQLite alone and never open a connection.
 */
const namedServers = SERVERS_UNDER_TEST.filter((server) => serverTestUrl(server) !== undefined);
const serverEngines = namedServers.map((server) => (server.type === 'postgres' ? 'postgres' : 'mariadb'));

/** A bench script's exit code and output: each stream, and both in the order they arrived. */
interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
  output: string;
}

/** Runs a bench script as its npm script does (Node options, then ts-node), and resolves when it exits. */
function runBench(script: string, args: string[], nodeOptions: string[] = []): Promise<BenchRun> {
  const child = spawn(process.execPath, [...nodeOptions, '-r', 'ts-node/register/transpile-only', script, ...args], {
    cwd: ROOT,
  });
  const run: BenchRun = { code: null, stdout: '', stderr: '', output: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    run.stdout += chunk.toString();
    run.output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    run.stderr += chunk.toString();
    run.output += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ ...run, code })));
}

/** `npm run bench -- --quick --out DIR`. */
const runQuickBench = (outDir: string): Promise<BenchRun> => runBench('bench/run.ts', ['--quick', '--out', outDir]);

const variantShape = (variant: string) => ({
  variant,
  ops: expect.any(Number),
  opsPerSec: expect.any(Number),
  meanUs: expect.any(Number),
  p50Us: expect.any(Number),
  p99Us: expect.any(Number),
  p99MedianRoundUs: expect.any(Number),
  roundMeanUs: [expect.any(Number), expect.any(Number)],
});

// Checks only that the benchmark runs and reports every measurement: never how fast anything is.
describe('npm run bench -- --quick', () => {
  let dir: string;
  let run: BenchRun;
  let result: BenchResult;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-bench-test-'));
    run = await runQuickBench(dir);
    result = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as BenchResult;
  }, 900_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 and says where it wrote the results', () => {
    expect(run.code).toBe(0);
    expect(run.output).toContain(join(dir, 'latest.json'));
  });

  it('measures get, upsert and rotate, every variant at every size, on SQLite with and without encryption, and on the named servers only', () => {
    expect(result.quick).toBe(true);
    expect(result.engines.map((e) => [e.name, e.encryption, e.storedSealed])).toEqual([
      ['sqlite-memory', false, false],
      ['sqlite-memory encrypted', true, true],
      ['sqlite-wal', false, false],
      ['sqlite-wal encrypted', true, true],
      ...serverEngines.map((name) => [name, false, false]),
    ]);
    for (const engine of result.engines) {
      expect(engine.sizes.map((s) => s.rows)).toEqual([100, 1_000]);
      for (const size of engine.sizes) {
        expect(size.get).toEqual([
          variantShape('raw'),
          variantShape('repo.get'),
          variantShape('typeorm findOneBy'),
          variantShape('repo.rotate (still valid)'),
          variantShape('tokens.accessToken (still valid)'),
        ]);
        expect(size.upsert).toEqual([
          variantShape('raw'),
          variantShape('repo.upsert'),
          variantShape('typeorm upsert+findOneBy'),
        ]);
        expect(size.rotate).toEqual([
          variantShape('raw'),
          variantShape('repo get+upsert(expected)'),
          variantShape('repo.rotate (forced refresh)'),
        ]);
        for (const stats of [...size.get, ...size.upsert, ...size.rotate]) {
          expect(stats.ops).toBeGreaterThan(0);
          expect(Number.isFinite(stats.opsPerSec) && Number.isFinite(stats.p99Us)).toBe(true);
        }
        expect(size.load).toMatchObject({
          toRows: size.rows,
          peakRssMiB: expect.any(Number),
          databaseMiB: expect.any(Number),
        });
      }
    }
    expect(result.engines[2]?.pragmas).toMatchObject({ journal_mode: 'wal', synchronous: 2 });
  });

  it('shows the query plan of the exact get statement, served by the unique index on every engine', () => {
    const plans = (engine: string): string =>
      result.engines
        .filter((e) => e.engine === engine)
        .flatMap((e) => e.sizes.flatMap((s) => s.explain.repoPlan))
        .join('\n');
    for (const size of result.engines.flatMap((e) => e.sizes)) {
      expect(size.explain.repoSql).toMatch(/^SELECT .* FROM ["`]atlassian_oauth_state["`]/);
      expect(size.explain.usesUniqueIndex).toBe(true);
    }
    expect(plans('sqlite-memory')).toMatch(
      /SEARCH .* USING INDEX sqlite_autoindex_atlassian_oauth_state_\d+ \(platform=\? AND tenant_id=\?\)/,
    );
    if (serverEngines.includes('postgres')) {
      expect(plans('postgres')).toMatch(/Index Scan using "?UQ_1253a704c886bb86d05de9d7756"?/);
    }
    if (serverEngines.includes('mariadb')) {
      expect(plans('mariadb')).toMatch(/type=const key=IDX_1253a704c886bb86d05de9d775/);
    }
  });

  it('runs the refresh storm on the SQLite file and the named servers: every grant refreshed once, no rotated token presented, the workers exit', () => {
    expect(result.storm?.engines.map((e) => e.engine)).toEqual(['sqlite-wal', ...serverEngines]);
    for (const engine of result.storm?.engines ?? []) {
      expect(engine).toMatchObject({
        grants: 64,
        processes: 4,
        callers: 8,
        calls: 4 * 64,
        endpointRefreshes: 64,
        grantsRefreshedTwice: 0,
        grantsNotRefreshed: 0,
        staleRefreshTokens: 0,
      });
      expect(engine.errors).toEqual({});
      expect(engine.statementsPerRefresh).toBeGreaterThan(0);
      expect(Number.isFinite(engine.storeVsUpsert)).toBe(true);
    }
  });

  it('says which servers it skipped because none was named', () => {
    for (const server of SERVERS_UNDER_TEST.filter((s) => !namedServers.includes(s))) {
      expect(run.output).toContain(
        `(--${server.type === 'postgres' ? 'postgres' : 'mariadb'} URL or ${server.variable}): skipped`,
      );
    }
  });

  // CI names both servers (.ci/run): a bench that silently measured SQLite alone would pass there.
  if (process.env.CI === 'true') {
    it('measures both servers under CI', () => {
      expect(namedServers.map((s) => s.variable)).toEqual(['TEST_POSTGRES_URL', 'TEST_MARIADB_URL']);
    });
  }

  it('runs 4 writer processes on one file without errors or extra rows', () => {
    expect(result.contention).toMatchObject({
      writers: 4,
      rows: 200,
      rowsAfter: 200,
      pragmas: { journal_mode: 'wal' },
    });
    expect(result.contention.variants.map((v) => [v.variant, v.ops, v.errors])).toEqual([
      ['raw', 40, 0],
      ['raw + repo CPU', 40, 0],
      ['repo.upsert', 40, 0],
    ]);
    expect(result.contention.cpuPerUpsertUs).toEqual({ raw: expect.any(Number), repo: expect.any(Number) });
  });

  it('sweeps idle keys through the keep-alive service, one endpoint request per refreshed key, and reports its memory', () => {
    expect(result.keepAlive?.sweeps).toEqual([
      expect.objectContaining({ engine: 'sqlite-wal', keys: 100, refreshed: 100, tokenRequests: 100, concurrency: 4 }),
    ]);
    const [sweep] = result.keepAlive?.sweeps ?? [];
    expect(sweep && sweep.keysPerSec > 0 && sweep.heapPeakMiB > 0 && sweep.maxRssMiB > 0).toBe(true);
    expect(run.output).toContain('### Keep-alive sweep');
  });

  it('measures AtlassianApiClient against a raw fetch and a 4-process fleet against the app budget', () => {
    const api = JSON.parse(readFileSync(join(dir, 'api-client.json'), 'utf8')) as ApiClientBenchResult;

    expect(api.latency).toMatchObject({ requestP50Ms: expect.any(Number), fetchP50Ms: expect.any(Number) });
    expect(api.budget).toMatchObject({ processes: 4, tenants: 20, goodputShare: expect.any(Number) });
    expect(api.budget.floodOverBudget.answered).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'api-client.md'), 'utf8')).toContain('| measure | result | target |');
  });

  it('evaluates every target and reports the machine', () => {
    expect(result.targets.length).toBeGreaterThan(0);
    for (const target of result.targets) {
      expect(target).toEqual({
        target: expect.any(String),
        where: expect.any(String),
        measured: expect.any(Number),
        limit: expect.any(Number),
        met: expect.any(Boolean),
      });
    }
    expect(result.targets.map((t) => t.target)).toEqual(
      expect.arrayContaining([
        'get within 4x of raw',
        'upsert within 1.3x of bare Repository.upsert + read-back',
        'get served by the unique index (EXPLAIN QUERY PLAN)',
        'rotate on a still-valid token within 1.3x of get',
        'accessToken on a still-valid token within 1.3x of get',
        'upsert p99 with 4 writer processes within 3x of raw',
      ]),
    );
    expect(result.machine).toMatchObject({
      nproc: expect.any(Number),
      cpuModel: expect.any(String),
      node: process.version,
    });
  });

  it('writes the markdown table next to the JSON', () => {
    const markdown = readFileSync(join(dir, 'latest.md'), 'utf8');
    expect(markdown).toContain(
      '| rows | op | variant | ops/s | mean µs | p50 µs | p99 µs | p99 µs (median round) | time vs raw |',
    );
    expect(markdown).toContain('EXPLAIN of the get query (sqlite-memory');
  });
});

describe(chooseServers.name, () => {
  it('says --no-servers left each server out, not that none was named, when a URL is set', () => {
    const sut = chooseServers({ servers: false, postgres: 'postgres://bench@127.0.0.1:5432/x', mariadb: undefined });

    expect(sut.servers).toEqual({});
    expect(sut.skipped).toEqual([
      'bench: postgres left out by --no-servers (a URL was given or set)',
      'bench: mariadb left out by --no-servers',
    ]);
  });

  it('measures the servers named and says which ones were not named', () => {
    const sut = chooseServers({ servers: true, postgres: 'postgres://bench@127.0.0.1:5432/x', mariadb: undefined });

    expect(sut.servers).toEqual({ postgres: 'postgres://bench@127.0.0.1:5432/x' });
    expect(sut.skipped).toEqual(['bench: no mariadb named (--mariadb URL or TEST_MARIADB_URL): skipped']);
  });
});

/** `npm run bench:reencrypt -- ARGS` (with the GC exposed, as the npm script does). */
const runReencryptBench = (args: string[]): Promise<BenchRun> => runBench('bench/reencrypt.ts', args, ['--expose-gc']);

// Checks only that it runs and moves every row, on the SQLite file and the named servers: never how fast.
describe('npm run bench:reencrypt', () => {
  const engines = ['sqlite-file', ...serverEngines];

  it.each([
    ['old-key', 'sealed'],
    ['plaintext', 'legacyPlaintext'],
  ])(
    '--from %s moves every row under the new key (%s), and a re-run finds them all current',
    async (from, count) => {
      const run = await runReencryptBench(['--rows', '300', '--batch', '100', '--from', from]);

      expect(run.stderr).not.toContain('failed');
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines.map((line) => (JSON.parse(line) as { engine: string }).engine)).toEqual(engines);
      for (const line of lines) {
        expect(JSON.parse(line)).toMatchObject({
          from,
          rows: 300,
          counts: { sealed: 0, legacyPlaintext: 0, alreadyCurrent: 0, failed: 0, [count]: 300 },
          rowsPerSecond: expect.any(Number),
          rerun: { counts: { sealed: 0, legacyPlaintext: 0, alreadyCurrent: 300, failed: 0 } },
        });
      }
    },
    120_000,
  );

  it('refuses an unknown --from, naming the option', async () => {
    const run = await runReencryptBench(['--rows', '10', '--from', 'yesterday', '--no-sqlite']);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--from must be old-key or plaintext');
  }, 60_000);
});
