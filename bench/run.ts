/**
 * `npm run bench [-- --quick] [-- --out DIR]`: what the Atlassian OAuth state store costs against
 * the raw driver as the table grows. Writes DIR/latest.json and DIR/latest.md (default
 * bench/results) and prints the markdown. A benchmark, not a test: it fails only if something
 * breaks, never because a target is missed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { runApiClientBench } from './lib/api-client';
import { runContention } from './lib/contention';
import { runKeepAliveBench } from './lib/keep-alive';
import { evaluateStormTargets, runStorm } from './lib/storm';
import { exited, forkBench, nextMessage } from './lib/processes';
import { createFreshDatabase } from '../test/support/server-databases';
import { BenchPlan, EngineJob, engineName, FULL_PLAN, isServerEngine, QUICK_PLAN } from './lib/profile';
import { BENCH_TABLES_PATH, writeReadmeBlock } from './lib/readme';
import { renderMarkdown, renderReadmeTable } from './lib/report';
import { machineInfo } from './lib/machine';
import { BenchResult, ContentionResult, EngineResult } from './lib/results';
import { evaluateTargets } from './lib/targets';
import { chooseServers, SERVER_VARIABLES, ServerUrls } from './lib/servers';

/** A key ring of one fresh random key, for the encrypted engines of this run only. */
const benchKeyRing = (): string => `bench:${randomBytes(32).toString('base64')}`;

async function runEngineWorker(job: EngineJob): Promise<EngineResult> {
  const child = forkBench(
    join(__dirname, 'engine-worker.ts'),
    [JSON.stringify(job)],
    job.encryption ? benchKeyRing() : null,
  );
  const answer = await nextMessage<{ result?: EngineResult; error?: string }>(child, () => true);
  await exited(child);
  if (answer.result === undefined) {
    throw new Error(`engine ${engineName(job)} failed: ${answer.error ?? 'no result'}`);
  }
  return answer.result;
}

/** Runs one engine job; a server engine gets a fresh database on its server, dropped afterwards. */
async function runEngine(
  engine: BenchPlan['engines'][number],
  scratch: string,
  servers: ServerUrls,
): Promise<EngineResult> {
  process.stderr.write(`bench: ${engineName(engine)}, sizes ${engine.sizes.join(', ')}\n`);
  if (isServerEngine(engine.engine)) {
    const adminUrl = servers[engine.engine];
    if (adminUrl === undefined) {
      throw new Error(`no server for ${engine.engine}`);
    }
    const fresh = await createFreshDatabase(adminUrl);
    try {
      return await runEngineWorker({ ...engine, database: fresh.url });
    } finally {
      await fresh.drop();
    }
  }
  const database =
    engine.engine === 'sqlite-memory' ? ':memory:' : join(scratch, `${engineName(engine).replace(/\W+/g, '-')}.sqlite`);
  return runEngineWorker({ ...engine, database });
}

export async function runBench(
  plan: BenchPlan,
  outDir: string,
  { servers, skipped }: ReturnType<typeof chooseServers>,
): Promise<BenchResult> {
  const startedAt = new Date();
  const scratch = mkdtempSync(join(tmpdir(), 'agent-core-bench-'));
  try {
    for (const line of skipped) {
      process.stderr.write(`${line}\n`);
    }
    const engineRuns = plan.engines
      .filter((engine) => !isServerEngine(engine.engine) || servers[engine.engine] !== undefined)
      .map((engine) => () => runEngine(engine, scratch, servers));
    const contentionRun = () => {
      process.stderr.write(`bench: contention, ${plan.contention.writers} writers\n`);
      return runContention({ ...plan.contention, database: join(scratch, 'contention.sqlite') });
    };
    let engines: EngineResult[];
    let contention: ContentionResult;
    if (plan.quick) {
      // Nothing is measured for real in a quick run: start everything at once and be done sooner.
      [engines, contention] = await Promise.all([Promise.all(engineRuns.map((run) => run())), contentionRun()]);
    } else {
      // One at a time, so no measurement competes with another for the CPUs.
      engines = [];
      for (const run of engineRuns) {
        engines.push(await run());
      }
      contention = await contentionRun();
    }
    const keepAlive = await runKeepAliveBench(
      plan.quick
        ? [{ engine: 'sqlite-wal', keys: 100 }]
        : [
            { engine: 'sqlite-memory', keys: 10_000 },
            { engine: 'sqlite-wal', keys: 1_000 },
            { engine: 'sqlite-wal', keys: 10_000 },
          ],
      4,
      scratch,
    );
    const storm = await runStorm(plan.storm, scratch, servers, plan.quick);
    const result: BenchResult = {
      quick: plan.quick,
      startedAt: startedAt.toISOString(),
      seconds: Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
      machine: machineInfo(),
      engines,
      contention,
      targets: [...evaluateTargets(engines, contention), ...(storm ? evaluateStormTargets(storm) : [])],
      keepAlive,
      storm,
    };
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(outDir, 'latest.md'), renderMarkdown(result));
    return result;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const DEFAULT_OUT = join(__dirname, 'results');
/** A quick run only checks that the benchmark works: it never replaces the committed full-run results. */
const QUICK_OUT = join(DEFAULT_OUT, 'quick');

/** A server URL from the environment, or undefined when the variable is unset or blank. */
const envUrl = (variable: string): string | undefined => process.env[variable]?.trim() || undefined;

const program = new Command()
  .name('bench')
  .description('the Atlassian OAuth state store against the raw driver, as the table grows')
  .option('--quick', 'tiny sizes and few iterations: checks that the benchmark runs, in seconds')
  .option('--out <dir>', `where latest.json and latest.md go (default ${DEFAULT_OUT}, or ${QUICK_OUT} with --quick)`)
  // A server is measured only when it is named: here, or by the variables the server suites use
  // (.ci/run sets TEST_POSTGRES_URL / TEST_MARIADB_URL). A laptop without servers runs SQLite only.
  .option(
    '--postgres <url>',
    'PostgreSQL server whose user may create the fresh bench database (default: TEST_POSTGRES_URL, else none)',
    envUrl(SERVER_VARIABLES.postgres),
  )
  .option(
    '--mariadb <url>',
    'MariaDB/MySQL server whose user may create the fresh bench database (default: TEST_MARIADB_URL, else none)',
    envUrl(SERVER_VARIABLES.mariadb),
  )
  .option('--no-servers', 'SQLite only, even when a server URL is given or set')
  .option(
    '--storm-grants <n>',
    'grants of the refresh storm (default 10,000, or 64 with --quick): fewer where the machine is too busy to finish',
  )
  .option(
    '--render <latest.json>',
    'measure nothing: re-render latest.md (and the table in docs/performance.md) from a saved run',
  )
  .action(
    async (options: {
      quick?: boolean;
      out?: string;
      postgres?: string;
      mariadb?: string;
      servers: boolean;
      render?: string;
      stormGrants?: string;
    }) => {
      const outDir = resolve(options.out ?? (options.quick ? QUICK_OUT : DEFAULT_OUT));
      let result: BenchResult;
      if (options.render) {
        result = JSON.parse(readFileSync(options.render, 'utf8')) as BenchResult;
        mkdirSync(outDir, { recursive: true });
        writeFileSync(join(outDir, 'latest.md'), renderMarkdown(result));
      } else {
        const plan = options.quick ? QUICK_PLAN : FULL_PLAN;
        const stormGrants = options.stormGrants === undefined ? plan.storm.grants : Number(options.stormGrants);
        if (!Number.isInteger(stormGrants) || stormGrants < 1) {
          throw new Error(`--storm-grants must be a whole number of grants, 1 or more, not ${options.stormGrants}`);
        }
        result = await runBench(
          { ...plan, storm: { ...plan.storm, grants: stormGrants } },
          outDir,
          chooseServers(options),
        );
        // Writes api-client.json/.md beside latest.json (and its docs table for a full run into bench/results).
        await runApiClientBench(result.quick, outDir, outDir === DEFAULT_OUT);
      }
      process.stdout.write(renderMarkdown(result));
      process.stderr.write(
        options.render
          ? `bench: re-rendered ${join(outDir, 'latest.md')} from ${options.render}\n`
          : `bench: wrote ${join(outDir, 'latest.json')} and latest.md in ${result.seconds} s\n`,
      );
      // The committed results are the latest full run: so is the table in docs/performance.md.
      if (!result.quick && outDir === DEFAULT_OUT && writeReadmeBlock('latest', renderReadmeTable(result))) {
        process.stderr.write(`bench: updated the table in ${BENCH_TABLES_PATH}\n`);
      }
    },
  );

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
