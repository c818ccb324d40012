/**
 * One of the writers of the contention run: boots the module on the shared file and upserts
 * when bench/run.ts says so (IPC messages), so that all writers start each phase together.
 */
import { bootBenchApp } from './lib/app';
import { keyOf, prng, tokensOf } from './lib/keys';
import { nextSeq } from './lib/measure';
import { sqliteHandleOf } from '../src/database/sqlite-handle';
import { seed, SqliteFloor, sqlitePragmas } from './lib/sqlite';

/** What a writer does in a phase; `raw + repo CPU` burns `spinUs` of CPU before each raw upsert. */
export type ContentionVariant = 'raw' | 'raw + repo CPU' | 'repo.upsert';

export type ContentionRequest =
  | { type: 'seed'; rows: number }
  | { type: 'calibrate'; ops: number; rows: number }
  | { type: 'run'; variant: ContentionVariant; ops: number; rows: number; seed: number; spinUs: number }
  | { type: 'count' }
  | { type: 'stop' };

export type ContentionReply =
  | { type: 'ready'; pragmas: Record<string, unknown> }
  | { type: 'seeded' }
  | { type: 'calibrated'; rawCpuUs: number; repoCpuUs: number }
  | { type: 'done'; latenciesNs: number[]; wallNs: number; errors: number }
  | { type: 'count'; rows: number }
  | { type: 'failed'; error: string };

const reply = (message: ContentionReply): void => {
  process.send?.(message);
};

/** Keeps the CPU busy for `us` microseconds. */
function spin(us: number): void {
  const until = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < until) {
    // burning CPU is the point
  }
}

async function main(database: string): Promise<void> {
  const app = await bootBenchApp(database);
  const db = sqliteHandleOf(app.dataSource);
  const floor = new SqliteFloor(db, app.cipher);
  process.on('message', (request: ContentionRequest) => {
    handle(request).catch((error: unknown) =>
      reply({ type: 'failed', error: error instanceof Error ? error.message : String(error) }),
    );
  });
  reply({ type: 'ready', pragmas: sqlitePragmas(db) });

  async function handle(request: ContentionRequest): Promise<void> {
    switch (request.type) {
      case 'seed':
        await seed(db, app.cipher, 0, request.rows);
        reply({ type: 'seeded' });
        return;
      case 'calibrate': {
        // CPU time (user + system) per upsert of this process alone, raw and repo, on the same keys.
        const cpuPerOp = async (upsert: (i: number) => unknown): Promise<number> => {
          const random = prng(0xca1);
          const before = process.cpuUsage();
          for (let i = 0; i < request.ops; i++) {
            await upsert(Math.floor(random() * request.rows));
          }
          const used = process.cpuUsage(before);
          return (used.user + used.system) / request.ops;
        };
        await cpuPerOp((i) => floor.upsert(keyOf(i), tokensOf(nextSeq())));
        const rawCpuUs = await cpuPerOp((i) => floor.upsert(keyOf(i), tokensOf(nextSeq())));
        const upsertRepo = (i: number) => {
          const key = keyOf(i);
          return app.repo.upsert(key.platform, key.tenantId, tokensOf(nextSeq()));
        };
        await cpuPerOp(upsertRepo);
        const repoCpuUs = await cpuPerOp(upsertRepo);
        reply({ type: 'calibrated', rawCpuUs, repoCpuUs });
        return;
      }
      case 'count':
        reply({ type: 'count', rows: await app.repo.count() });
        return;
      case 'stop':
        await app.context.close();
        process.disconnect();
        return;
      case 'run': {
        const random = prng(request.seed);
        const latenciesNs: number[] = [];
        let errors = 0;
        const started = process.hrtime.bigint();
        for (let i = 0; i < request.ops; i++) {
          const key = keyOf(Math.floor(random() * request.rows));
          const tokens = tokensOf(nextSeq() * 16 + request.seed);
          const start = process.hrtime.bigint();
          try {
            if (request.variant === 'raw') {
              floor.upsert(key, tokens);
            } else if (request.variant === 'raw + repo CPU') {
              // The repo's extra CPU, spent where the repo spends it: outside the write lock.
              spin(request.spinUs);
              floor.upsert(key, tokens);
              await Promise.resolve();
            } else {
              await app.repo.upsert(key.platform, key.tenantId, tokens);
            }
          } catch {
            errors++;
          }
          latenciesNs.push(Number(process.hrtime.bigint() - start));
        }
        reply({ type: 'done', latenciesNs, wallNs: Number(process.hrtime.bigint() - started), errors });
        return;
      }
    }
  }
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  reply({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
});
