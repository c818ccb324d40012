/**
 * One engine's measurements, in a process of its own so that its resident set is its own.
 * Started by bench/run.ts with the job as JSON in argv[2]; answers with one IPC message.
 */
import { bootBenchApp, BenchApp } from './lib/app';
import { distinctRandomKeys, keyOf, prng, randomKeys } from './lib/keys';
import { measureInterleaved } from './lib/measure';
import { EngineJob, engineName } from './lib/profile';
import { EngineResult, ExplainResult, SizeResult } from './lib/results';
import { serverTarget } from './lib/server';
import { sqliteTarget } from './lib/sqlite';
import { EngineTarget } from './lib/target';
import { getVariants, rotateVariants, upsertVariants } from './lib/variants';
import { AtlassianOauthStateKey } from '../src/atlassian';

/** The plan of the exact statement `repo.get` sends, captured from TypeORM's logger, and the floor's. */
async function explainGet(app: BenchApp, target: EngineTarget, key: AtlassianOauthStateKey): Promise<ExplainResult> {
  app.recorder.statements.length = 0;
  app.recorder.recording = true;
  try {
    await app.repo.get(key.platform, key.tenantId);
  } finally {
    app.recorder.recording = false;
  }
  const statement = app.recorder.statements.find((s) => /^\s*SELECT/i.test(s.sql));
  if (statement === undefined) {
    throw new Error('repo.get sent no SELECT');
  }
  const repoPlan = await target.explain(statement.sql, statement.parameters);
  const rawPlan = await target.explain(target.rawGetSql, [key.platform, key.tenantId]);
  return {
    repoSql: statement.sql,
    repoPlan,
    rawPlan,
    usesUniqueIndex: target.searchesUniqueIndex(repoPlan) && target.searchesUniqueIndex(rawPlan),
  };
}

/** The engine under the booted app: SQLite through its own connection, a server through a raw one of its own. */
function targetOf(app: BenchApp, job: EngineJob): Promise<EngineTarget> {
  if (job.engine === 'postgres' || job.engine === 'mariadb') {
    return serverTarget(job.engine, job.database, app.cipher);
  }
  return Promise.resolve(sqliteTarget(app.dataSource, app.cipher));
}

async function runEngine(job: EngineJob): Promise<EngineResult> {
  const started = process.hrtime.bigint();
  const app = await bootBenchApp(job.database);
  try {
    if (app.cipher.encrypts !== job.encryption) {
      throw new Error(
        `the ${engineName(job)} job booted a cipher that ${app.cipher.encrypts ? 'encrypts' : 'does not encrypt'}`,
      );
    }
    const target = await targetOf(app, job);
    try {
      const sizes: SizeResult[] = [];
      let rows = 0;
      for (const [index, size] of job.sizes.entries()) {
        const load = await target.seed(rows, size);
        rows = size;
        const random = prng(0x5eed + index);
        const inputs = (_round: number, block: number): AtlassianOauthStateKey[] => randomKeys(random, rows, block);
        // rotate's lease is per key: a key twice in one block would wait out its own lease's release.
        const distinctInputs = (_round: number, block: number): AtlassianOauthStateKey[] =>
          distinctRandomKeys(random, rows, block);
        const explain = await explainGet(app, target, keyOf(rows - 1));
        const get = await measureInterleaved(getVariants(app, target.floor), { ...job.get, inputs });
        const upsert = await measureInterleaved(upsertVariants(app, target.floor), { ...job.upsert, inputs });
        const rotate = await measureInterleaved(rotateVariants(app, target.floor), {
          ...job.upsert,
          inputs: distinctInputs,
        });
        sizes.push({ rows, load, explain, get, upsert, rotate });
      }
      const counted = await app.repo.count();
      if (counted !== rows) {
        throw new Error(`expected ${rows} rows after the run, found ${counted}`);
      }
      return {
        name: engineName(job),
        engine: job.engine,
        encryption: job.encryption,
        storedSealed: await target.storedSealed(keyOf(0)),
        pragmas: await target.settings(),
        sizes,
        maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        seconds: Math.round(Number(process.hrtime.bigint() - started) / 1e7) / 100,
      };
    } finally {
      await target.close();
    }
  } finally {
    await app.context.close();
  }
}

const job = JSON.parse(process.argv[2] ?? '{}') as EngineJob;
runEngine(job).then(
  (result) => process.send?.({ result }),
  (error: unknown) => {
    process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exitCode = 1;
  },
);
