/**
 * A separate OS process that uses the store through the whole AppModule, as one replica of
 * agent-core would. Driven by test/support/store-processes.ts; prints one JSON line of results.
 *
 * Usage: store-worker.ts <mode> <json-args>, with DATABASE_PATH naming the shared file.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../../src/app.module';
import { AtlassianOauthStateConflictError, AtlassianOauthStateRepo } from '../../src/atlassian';

export const PLATFORM = 'jira';

/** Each writer upserts `iterations` times from `startAt` on, cycling over `tenants` from its own offset. */
export interface WriteArgs {
  worker: number;
  tenants: string[];
  iterations: number;
  startAt?: number;
}
/** The last value this writer wrote for each tenant. */
export type WriteResult = Record<string, string>;

/** Each racer starts `concurrency` conditional upserts at `startAt`, all expecting `expected`. */
export interface RaceArgs {
  worker: number;
  tenantId: string;
  expected: string;
  concurrency: number;
  startAt: number;
}
export type RaceOutcome = { won: string } | { lost: string; current: string | null };

export interface CrashArgs {
  tenantId: string;
  refreshToken: string;
}

export interface ReadArgs {
  tenantId: string;
}
export type ReadResult = { refreshToken: string; accessToken: string | null } | null;

/** Lets processes that booted at different speeds start their work together. */
async function waitUntil(startAt = 0): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
}

async function write(repo: AtlassianOauthStateRepo, { worker, tenants, iterations, startAt }: WriteArgs): Promise<WriteResult> {
  await waitUntil(startAt);
  const last: WriteResult = {};
  for (let i = 0; i < iterations; i++) {
    const tenantId = tenants[(worker + i) % tenants.length] ?? '';
    const refreshToken = `w${worker}-i${i}`;
    await repo.upsert(PLATFORM, tenantId, { refreshToken, accessToken: `access-${refreshToken}` });
    last[tenantId] = refreshToken;
  }
  return last;
}

async function race(repo: AtlassianOauthStateRepo, args: RaceArgs): Promise<RaceOutcome[]> {
  await waitUntil(args.startAt);
  const attempts = Array.from({ length: args.concurrency }, async (_, c): Promise<RaceOutcome> => {
    const refreshToken = `w${args.worker}-c${c}`;
    try {
      await repo.upsert(PLATFORM, args.tenantId, { refreshToken }, { expectedRefreshToken: args.expected });
      return { won: refreshToken };
    } catch (error) {
      if (error instanceof AtlassianOauthStateConflictError) {
        return { lost: refreshToken, current: error.current?.refreshToken ?? null };
      }
      throw error;
    }
  });
  return Promise.all(attempts);
}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  const args: unknown = JSON.parse(json ?? '{}');
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const repo = app.get(AtlassianOauthStateRepo);
  let result: unknown;
  switch (mode) {
    case 'write':
      result = await write(repo, args as WriteArgs);
      break;
    case 'race':
      result = await race(repo, args as RaceArgs);
      break;
    case 'crash': {
      const { tenantId, refreshToken } = args as CrashArgs;
      await repo.upsert(PLATFORM, tenantId, { refreshToken });
      // stdout is synchronous for pipes on Linux: the parent has this line before the kill.
      process.stdout.write(`${JSON.stringify('resolved')}\n`);
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    case 'read': {
      const state = await repo.get(PLATFORM, (args as ReadArgs).tenantId);
      result = state && { refreshToken: state.refreshToken, accessToken: state.accessToken };
      break;
    }
    case 'count':
      result = { rows: await repo.count() };
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  await app.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
