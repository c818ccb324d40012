/**
 * One engine's measurements, in a process of its own so that its resident set is its own.
 * Started by bench/run.ts with the job as JSON in argv[2]; answers with one IPC message.
 */
import { bootBenchApp, BenchApp } from './lib/app';
import { BenchKey, distinctRandomKeys, keyOf, prng, randomKeys } from './lib/keys';
import { measureInterleaved } from './lib/measure';
import { EngineJob, engineName } from './lib/profile';
import { EngineResult, ExplainResult, SizeResult } from './lib/results';
import { explainQueryPlan, isStoredSealed, RAW_GET_SQL, seed, SqliteFloor, SqliteHandle, sqliteHandleOf, sqlitePragmas } from './lib/sqlite';
import { getVariants, rotateVariants, upsertVariants } from './lib/variants';

/** The plan of the exact statement `repo.get` sends, captured from TypeORM's logger. */
async function explainGet(app: BenchApp, db: SqliteHandle, key: BenchKey): Promise<ExplainResult> {
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
  const repoPlan = explainQueryPlan(db, statement.sql, statement.parameters);
  const rawPlan = explainQueryPlan(db, RAW_GET_SQL, [key.platform, key.tenantId]);
  const searchesIndex = (plan: string[]): boolean => plan.some((step) => /^SEARCH .* USING (COVERING )?INDEX sqlite_autoindex_atlassian_oauth_state_\d+ \(platform=\? AND tenant_id=\?\)/.test(step));
  return { repoSql: statement.sql, repoPlan, rawPlan, usesUniqueIndex: searchesIndex(repoPlan) && searchesIndex(rawPlan) };
}

async function runEngine(job: EngineJob): Promise<EngineResult> {
  const started = process.hrtime.bigint();
  const app = await bootBenchApp(job.database);
  try {
    const db = sqliteHandleOf(app.dataSource);
    if (app.cipher.encrypts !== job.encryption) {
      throw new Error(`the ${engineName(job)} job booted a cipher that ${app.cipher.encrypts ? 'encrypts' : 'does not encrypt'}`);
    }
    const floor = new SqliteFloor(db, app.cipher);
    const sizes: SizeResult[] = [];
    let rows = 0;
    for (const [index, size] of job.sizes.entries()) {
      const load = seed(db, app.cipher, rows, size);
      rows = size;
      const random = prng(0x5eed + index);
      const inputs = (_round: number, block: number): BenchKey[] => randomKeys(random, rows, block);
      // rotate's lease is per key: a key twice in one block would wait out its own lease's release.
      const distinctInputs = (_round: number, block: number): BenchKey[] => distinctRandomKeys(random, rows, block);
      const explain = await explainGet(app, db, keyOf(rows - 1));
      const get = await measureInterleaved(getVariants(app, floor), { ...job.get, inputs });
      const upsert = await measureInterleaved(upsertVariants(app, floor), { ...job.upsert, inputs });
      const rotate = await measureInterleaved(rotateVariants(app, floor), { ...job.upsert, inputs: distinctInputs });
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
      storedSealed: isStoredSealed(db, keyOf(0)),
      pragmas: sqlitePragmas(db),
      sizes,
      maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      seconds: Math.round(Number(process.hrtime.bigint() - started) / 1e7) / 100,
    };
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
