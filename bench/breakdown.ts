/**
 * `npm run bench:breakdown`: where the time of `get` and `upsert` goes, stage by stage, on 1k
 * rows in memory (the figures in the README's "Where the time goes", from
 * `npm run bench:breakdown > bench/results/breakdown.md`). Each line adds one stage
 * of TypeORM's path on top of the raw floor; all of them run interleaved like `npm run bench`.
 */
import { PreparedLookup } from '../src/database/prepared-lookup';
import { bootBenchApp } from './lib/app';
import { machineInfo } from './lib/machine';
import { prng, randomKeys, tokensOf } from './lib/keys';
import { measureInterleaved, pairedRatio, Variant, VariantStats } from './lib/measure';
import { sqliteHandleOf } from '../src/database/sqlite-handle';
import { seed, SqliteFloor } from './lib/sqlite';
import { AtlassianOauthStateKey } from '../src/atlassian';

const ROWS = 1_000;
const EFFORT = { rounds: 16, block: 300, warmupRounds: 2 };

function print(title: string, stats: VariantStats[]): void {
  const raw = stats[0];
  process.stdout.write(`\n${title}\n| variant | mean µs | p50 µs | time vs raw |\n| --- | --- | --- | --- |\n`);
  for (const s of stats) {
    process.stdout.write(
      `| ${s.variant} | ${s.meanUs.toFixed(1)} | ${s.p50Us.toFixed(1)} | ${raw ? pairedRatio(s, raw).toFixed(2) : '-'}x |\n`,
    );
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  process.stdout.write(
    `Run ${new Date().toISOString()}, commit ${machine.commit}; nproc ${machine.nproc}, ${machine.cpuModel}, Node ${machine.node}.\n`,
  );
  const app = await bootBenchApp(':memory:');
  try {
    const db = sqliteHandleOf(app.dataSource);
    await seed(db, app.cipher, 0, ROWS);
    const floor = new SqliteFloor(db, app.cipher);
    const repository = app.typeormRepository;
    const lookup = new PreparedLookup(repository, ['platform', 'tenantId']);
    // The SQL PreparedLookup sends, with named parameters left in, to price escaping per call.
    const named = repository
      .createQueryBuilder('entity')
      .where('entity.platform = :platform AND entity.tenantId = :tenantId')
      .limit(1);
    const namedSql = named.getQuery();
    const [preparedSql] = named.setParameters({ platform: '', tenantId: '' }).getQueryAndParameters();
    const { driver } = app.dataSource;
    const random = prng(0xb4ea);
    const inputs = (_round: number, block: number): AtlassianOauthStateKey[] => randomKeys(random, ROWS, block);

    const get: Variant<AtlassianOauthStateKey>[] = [
      { name: 'raw better-sqlite3', run: (key) => floor.get(key) },
      { name: 'findOneBy', run: (key) => repository.findOneBy({ platform: key.platform, tenantId: key.tenantId }) },
      {
        name: 'createQueryBuilder().where().getOne()',
        run: (key) =>
          repository
            .createQueryBuilder('s')
            .where('s.platform = :p AND s.tenantId = :t', { p: key.platform, t: key.tenantId })
            .getOne(),
      },
      {
        name: 'prepared SQL via repository.query (raw rows)',
        run: (key) => repository.query(preparedSql, [key.platform, key.tenantId]),
      },
      {
        name: 'same, escaping named parameters per call',
        run: (key) =>
          repository.query(
            ...driver.escapeQueryWithParameters(namedSql, { platform: key.platform, tenantId: key.tenantId }),
          ),
      },
      { name: 'PreparedLookup.findOne (query + hydration)', run: (key) => lookup.findOne(key) },
      { name: 'repo.get (validation, PreparedLookup, cipher)', run: (key) => app.repo.get(key.platform, key.tenantId) },
    ];
    print(`get, ${ROWS} rows in memory`, await measureInterleaved(get, { ...EFFORT, inputs }));

    const upsert: Variant<AtlassianOauthStateKey>[] = [
      { name: 'raw INSERT ON CONFLICT + SELECT', run: (key, seq) => floor.upsert(key, tokensOf(seq)) },
      {
        name: 'Repository.upsert alone',
        run: (key, seq) =>
          repository.upsert({ ...key, ...tokensOf(seq), updatedAt: new Date() }, ['platform', 'tenantId']),
      },
      {
        name: 'same statement, InsertQueryBuilder.updateEntity(false) (no reload SELECT)',
        run: (key, seq) =>
          repository
            .createQueryBuilder()
            .insert()
            .values({ ...key, ...tokensOf(seq), updatedAt: new Date() })
            .orUpdate(
              ['platform', 'tenant_id', 'accessToken', 'refreshToken', 'expires_at', 'updatedAt'],
              ['platform', 'tenant_id'],
            )
            .updateEntity(false)
            .execute(),
      },
      {
        name: 'same, key columns left out of the SET list (what repo.upsert sends)',
        run: (key, seq) =>
          repository
            .createQueryBuilder()
            .insert()
            .values({ ...key, ...tokensOf(seq), updatedAt: new Date() })
            .orUpdate(['accessToken', 'refreshToken', 'expires_at', 'updatedAt'], ['platform', 'tenant_id'])
            .updateEntity(false)
            .execute(),
      },
      {
        name: 'repo.upsert (that statement prepared once + PreparedLookup read-back)',
        run: (key, seq) => app.repo.upsert(key.platform, key.tenantId, tokensOf(seq)),
      },
    ];
    print(`upsert, ${ROWS} rows in memory`, await measureInterleaved(upsert, { ...EFFORT, block: 150, inputs }));
  } finally {
    await app.context.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:breakdown failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
