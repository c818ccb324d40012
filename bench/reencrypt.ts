/**
 * `npm run bench:reencrypt [-- --rows N] [-- --batch N] [-- --from old-key|plaintext] [-- --memory] [-- --postgres URL] [-- --mariadb URL]`:
 * what `reencryptAll` costs on a table whose rows are all sealed under the previous key (`old-key`,
 * the default: a key rotation, each token opened and sealed again) or all legacy plaintext
 * (`plaintext`: the migration window, each token only sealed): on the production SQLite file
 * settings (WAL, synchronous=FULL) or `:memory:`, and on each server named (a fresh database on
 * it, dropped afterwards; `TEST_POSTGRES_URL` / `TEST_MARIADB_URL` name them too). Prints one JSON
 * line per engine: duration, rows per second (wall and per CPU second of this process), and the JS
 * heap after a forced GC at about 10 batches spread over the run (its spread shows whether memory
 * stays flat as the run goes through the table). A benchmark,
 * not a test: it fails only if something breaks.
 */
import 'reflect-metadata';
import { createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { Command } from 'commander';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module';
import { AtlassianOauthReencryptionService } from '../src/atlassian';
import { AtlassianOauthTokenSealer } from '../src/atlassian/atlassian-oauth-token-sealer';
import { AtlassianOauthSealedStateRepo } from '../src/atlassian/atlassian-oauth-sealed-state.repo';
import { ATLASSIAN_OAUTH_STATE_TABLE } from '../src/database/entities/atlassian-oauth-state.entity';
import { TokenCipher } from '../src/token-cipher/token-cipher';
import { createFreshDatabase } from '../test/support/server-databases';
import { machineInfo } from './lib/machine';
import { copyForFloors, ReencryptFloorRun, runReencryptFloor } from './lib/reencrypt-floor';
import {
  COMMITTED_REENCRYPT_RESULTS,
  ReencryptResult,
  ReencryptRun,
  ReencryptStart,
  updateReadmeReencryptTable,
} from './lib/reencrypt-report';
import { BENCH_TABLES_PATH } from './lib/readme';

const megabytes = (bytes: number): number => Math.round(bytes / 1e5) / 10;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Where one run's table lives. */
type Engine = { name: 'sqlite-file' | 'sqlite-memory' } | { name: 'postgres' | 'mariadb'; adminUrl: string };

/** How many times the heap is measured after a forced GC during one run. */
const HEAP_SAMPLES = 10;

/** Where a run's wall time went, in ms: reading pages, opening and sealing tokens, writing batches back. */
type Phases = { -readonly [Phase in keyof NonNullable<ReencryptRun['phasesMs']>]: number };

/**
 * Times every call of `method` on `target` (an instance: the service calls it through the
 * instance, so the wrapper sees every call) into `phases[phase]`. A few hundred ns per call.
 */
function timeCalls<T extends object>(target: T, method: keyof T & string, phases: Phases, phase: keyof Phases): void {
  const original = (target[method] as (...args: unknown[]) => unknown).bind(target);
  const add = (since: bigint): void => {
    phases[phase] += Number(process.hrtime.bigint() - since) / 1e6;
  };
  Object.assign(target, {
    [method]: (...args: unknown[]): unknown => {
      const since = process.hrtime.bigint();
      const result = original(...args);
      if (result instanceof Promise) {
        return result.finally(() => add(since));
      }
      add(since);
      return result;
    },
  });
}

/** Seeded rows per multi-row INSERT (6 values each). */
const SEED_ROWS_PER_INSERT = 500;

/**
 * Rows as an earlier agent-core wrote them, access tokens of a realistic size: sealed by `seal`
 * (under the previous key), or plaintext when it returns its input. Inserted in multi-row INSERTs
 * inside one transaction per 10,000 rows.
 */
async function seedRows(
  dataSource: DataSource,
  rows: number,
  seal: (token: string, tenantId: string, column: 'accessToken' | 'refreshToken') => string,
): Promise<void> {
  const { driver } = dataSource;
  const postgres = dataSource.options.type === 'postgres';
  const sqlite = dataSource.options.type === 'better-sqlite3';
  const columns = ['id', 'platform', 'tenant_id', 'accessToken', 'refreshToken', 'updatedAt'].map((c) =>
    driver.escape(c),
  );
  // better-sqlite3 binds no Date: TypeORM's own datetime text there.
  const updatedAt = sqlite ? new Date().toISOString().replace('T', ' ').slice(0, 23) : new Date();
  for (let from = 0; from < rows; from += 10_000) {
    await dataSource.transaction(async (manager) => {
      for (let start = from; start < Math.min(rows, from + 10_000); start += SEED_ROWS_PER_INSERT) {
        const end = Math.min(rows, start + SEED_ROWS_PER_INSERT);
        const parameters: unknown[] = [];
        const tuples: string[] = [];
        for (let i = start; i < end; i++) {
          const tenantId = `tenant-${i}`;
          const values = [
            `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
            'jira',
            tenantId,
            seal('a'.repeat(1200), tenantId, 'accessToken'),
            seal('r'.repeat(300), tenantId, 'refreshToken'),
            updatedAt,
          ];
          tuples.push(`(${values.map((_, k) => (postgres ? `$${parameters.length + k + 1}` : '?')).join(', ')})`);
          parameters.push(...values);
        }
        await manager.query(
          `INSERT INTO ${driver.escape('atlassian_oauth_state')} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`,
          parameters,
        );
      }
    });
  }
}

/** The mean of the floor's two runs (before and after `reencryptAll`). */
function floorOf(a: ReencryptFloorRun, b: ReencryptFloorRun): ReencryptFloorRun {
  const mean = (x: number, y: number): number => Math.round((x + y) / 2);
  const ms = mean(a.ms, b.ms);
  return {
    rows: a.rows,
    ms,
    rowsPerSecond: Math.round(a.rows / (ms / 1000)),
    cpuMs: mean(a.cpuMs, b.cpuMs),
    phasesMs: {
      read: mean(a.phasesMs.read, b.phasesMs.read),
      open: mean(a.phasesMs.open, b.phasesMs.open),
      seal: mean(a.phasesMs.seal, b.phasesMs.seal),
      write: mean(a.phasesMs.write, b.phasesMs.write),
    },
  };
}

async function run(engine: Engine, rows: number, batchSize: number, start: ReencryptStart): Promise<ReencryptRun> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-core-reencrypt-'));
  const fresh = 'adminUrl' in engine ? await createFreshDatabase(engine.adminUrl) : undefined;
  if (fresh) {
    delete process.env.DATABASE_PATH;
    process.env.DATABASE_URL = fresh.url;
  } else {
    delete process.env.DATABASE_URL;
    process.env.DATABASE_PATH = engine.name === 'sqlite-memory' ? ':memory:' : join(dir, 'agent-core.sqlite');
  }
  const oldKey = createSecretKey(randomBytes(32));
  // A key rotation: the new key first, the previous one still in the ring to open the rows.
  process.env.OAUTH_STATE_ENCRYPTION_KEYS = `new:${randomBytes(32).toString('base64')},old:${oldKey.export().toString('base64')}`;
  const oldCipher = new TokenCipher(start === 'old-key' ? [{ id: 'old', key: oldKey }] : []);
  // Legacy plaintext rows are sealed only in the migration window, which a configured key ring
  // refuses without this setting (every row would count as failed).
  process.env.OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS = String(start === 'plaintext');
  delete process.env.NODE_ENV;
  // Copying 100k rows for the floor is one statement, longer than the 5 s default on a busy server.
  process.env.DATABASE_QUERY_TIMEOUT_MS ??= '600000';
  try {
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    try {
      const seedStarted = Date.now();
      await seedRows(app.get<DataSource>(getDataSourceToken()), rows, (token, tenantId, column) =>
        oldCipher.seal(token, { table: ATLASSIAN_OAUTH_STATE_TABLE, platform: 'jira', tenantId, column }),
      );
      const seedMs = Date.now() - seedStarted;
      // The floor on copies of the same rows, one run before reencryptAll and one after it.
      const dataSource = app.get<DataSource>(getDataSourceToken());
      const cipher = app.get(TokenCipher);
      const [before, after] = await copyForFloors(dataSource, 2);
      const floor = async (table: string | undefined): Promise<ReencryptFloorRun> => {
        gc();
        const floorRun = await runReencryptFloor(dataSource, fresh?.url, cipher, batchSize, table as string);
        if (floorRun.rows !== rows) {
          throw new Error(`the re-encryption floor moved ${floorRun.rows} of ${rows} rows`);
        }
        if (dataSource.options.type === 'better-sqlite3') {
          // The floor's writes are not left in the WAL for the next run's checkpoints to pay for.
          await dataSource.query('PRAGMA wal_checkpoint(TRUNCATE)');
        }
        return floorRun;
      };
      const floorBefore = await floor(before);
      const reencryption = app.get(AtlassianOauthReencryptionService);
      const phases: Phases = { read: 0, open: 0, seal: 0, write: 0 };
      const states = app.get(AtlassianOauthSealedStateRepo);
      const sealer = app.get(AtlassianOauthTokenSealer);
      timeCalls(states, 'findSealedPage', phases, 'read');
      timeCalls(states, 'replaceSealedTokensBatch', phases, 'write');
      timeCalls(sealer, 'open', phases, 'open');
      timeCalls(sealer, 'seal', phases, 'seal');
      const heaps: number[] = [];
      // The forced GC that makes the heap comparable between batches is the bench's own work, not
      // reencryptAll's: its time is measured and taken out of `ms`.
      const sampleEvery = Math.max(1, Math.ceil(rows / batchSize / HEAP_SAMPLES));
      let batches = 0;
      let measuringNs = 0n;
      let measuringCpuUs = 0;
      const cpuMicros = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;
      gc();
      const started = process.hrtime.bigint();
      const cpuBefore = process.cpuUsage();
      const counts = await reencryption.reencryptAll({
        batchSize,
        onProgress: () => {
          // About 10 samples over the run: a forced full GC after every batch would slow the run itself.
          if (++batches % sampleEvery !== 1 && sampleEvery > 1) {
            return;
          }
          const measuring = process.hrtime.bigint();
          const measuringCpu = process.cpuUsage();
          gc();
          heaps.push(process.memoryUsage().heapUsed);
          measuringCpuUs += cpuMicros(process.cpuUsage(measuringCpu));
          measuringNs += process.hrtime.bigint() - measuring;
        },
      });
      const endedAt = process.hrtime.bigint();
      const cpuUs = cpuMicros(process.cpuUsage(cpuBefore));
      const floorAfter = await floor(after);
      const moved = start === 'old-key' ? counts.sealed : counts.legacyPlaintext;
      if (counts.failed > 0 || moved !== rows) {
        // A run that sealed nothing measures nothing: fail it rather than print a speed.
        throw new Error(`reencryptAll moved ${moved} of ${rows} ${start} rows (${counts.failed} failed)`);
      }
      const elapsedNs = endedAt - started;
      const ms = Math.round(Number(elapsedNs - measuringNs) / 1e6);
      // This process's CPU time (the database server's is not in it): what a busy machine's wall time hides.
      const cpuMs = Math.round((cpuUs - measuringCpuUs) / 1000);
      const phasesMs = {
        read: Math.round(phases.read),
        open: Math.round(phases.open),
        seal: Math.round(phases.seal),
        write: Math.round(phases.write),
      };
      const rerunStarted = Date.now();
      const rerun = await reencryption.reencryptAll({ batchSize });
      return {
        engine: engine.name,
        database: {
          'sqlite-file': 'file (WAL, synchronous=FULL)',
          'sqlite-memory': ':memory:',
          postgres: 'PostgreSQL (fresh database)',
          mariadb: 'MariaDB/MySQL (fresh database)',
        }[engine.name],
        from: start,
        rows,
        batchSize,
        seedMs,
        counts,
        ms,
        rowsPerSecond: Math.round(rows / (ms / 1000)),
        cpuMs,
        rowsPerCpuSecond: Math.round(rows / (cpuMs / 1000)),
        phasesMs,
        floor: floorOf(floorBefore, floorAfter),
        floorRuns: [floorBefore, floorAfter],
        vsFloor: Math.round((ms / ((floorBefore.ms + floorAfter.ms) / 2)) * 100) / 100,
        gcBetweenBatchesMs: Math.round(Number(measuringNs) / 1e6),
        heapAfterGcMB:
          heaps.length > 0
            ? {
                first: megabytes(heaps[0] ?? 0),
                min: megabytes(Math.min(...heaps)),
                max: megabytes(Math.max(...heaps)),
                last: megabytes(heaps[heaps.length - 1] ?? 0),
              }
            : null,
        gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
        rerun: { counts: rerun, ms: Date.now() - rerunStarted },
      };
    } finally {
      await app.close();
    }
  } finally {
    await fresh?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Re-renders the re-encryption table in docs/performance.md from the committed results, or says why it could not. */
function renderReadme(): void {
  if (!updateReadmeReencryptTable()) {
    throw new Error(`${BENCH_TABLES_PATH} has no bench:reencrypt markers`);
  }
  process.stderr.write(`bench:reencrypt: updated the table in ${BENCH_TABLES_PATH}\n`);
}

/** A server URL from the environment, or undefined when the variable is unset or blank. */
const envUrl = (variable: string): string | undefined => process.env[variable]?.trim() || undefined;

const program = new Command()
  .name('bench:reencrypt')
  .option('--rows <n>', 'rows to move under the new key', '100000')
  .option('--from <start>', 'what the rows hold: old-key (sealed under the previous key) or plaintext', 'old-key')
  .option('--batch <n>', 'reencryptAll batchSize', '500')
  .option('--memory', 'use :memory: instead of a database file')
  .option(
    '--postgres <url>',
    'also a PostgreSQL server (default: TEST_POSTGRES_URL, else none)',
    envUrl('TEST_POSTGRES_URL'),
  )
  .option(
    '--mariadb <url>',
    'also a MariaDB/MySQL server (default: TEST_MARIADB_URL, else none)',
    envUrl('TEST_MARIADB_URL'),
  )
  .option('--no-sqlite', 'only the servers named')
  .option(
    '--out <file>',
    'also write the runs, the machine and the commit to this JSON file; for bench/results/reencrypt.json (old-key) or reencrypt-plaintext.json, also the table in docs/performance.md',
  )
  .option('--render', 'measure nothing: re-render the table in docs/performance.md from the committed results')
  .action(
    async (options: {
      rows: string;
      batch: string;
      from: string;
      memory?: boolean;
      postgres?: string;
      mariadb?: string;
      sqlite: boolean;
      out?: string;
      render?: boolean;
    }) => {
      if (options.render === true) {
        renderReadme();
        return;
      }
      if (options.from !== 'old-key' && options.from !== 'plaintext') {
        throw new Error(`--from must be old-key or plaintext, not ${JSON.stringify(options.from)}`);
      }
      const engines: Engine[] = [];
      if (options.sqlite) {
        engines.push({ name: options.memory === true ? 'sqlite-memory' : 'sqlite-file' });
      }
      if (options.postgres !== undefined) {
        engines.push({ name: 'postgres', adminUrl: options.postgres });
      }
      if (options.mariadb !== undefined) {
        engines.push({ name: 'mariadb', adminUrl: options.mariadb });
      }
      const startedAt = new Date().toISOString();
      const runs: ReencryptRun[] = [];
      for (const engine of engines) {
        const result = await run(engine, Number(options.rows), Number(options.batch), options.from);
        runs.push(result);
        process.stdout.write(`${JSON.stringify(result)}\n`);
      }
      if (options.out !== undefined) {
        const result: ReencryptResult = { startedAt, machine: machineInfo(), runs };
        writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
        process.stderr.write(`bench:reencrypt: wrote ${options.out}\n`);
        if (Object.values<string>(COMMITTED_REENCRYPT_RESULTS).includes(resolve(options.out))) {
          renderReadme();
        }
      }
    },
  );

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`bench:reencrypt failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
