/**
 * A separate OS process that uses the store through the whole AppModule, as one replica of
 * agent-core would. Driven by test/support/store-processes.ts; prints one JSON line of results.
 *
 * Usage: store-worker.ts <mode> <json-args>, with DATABASE_PATH (a SQLite file) or DATABASE_URL (a
 * server database) naming the shared database.
 */
import 'reflect-metadata';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppModule } from '../../src/app.module';
import { PLATFORM } from './store-processes';
import {
  AtlassianOauthReencryptionService,
  AtlassianOauthRefreshLeaseEntity,
  AtlassianOauthRotateOptions,
  AtlassianOauthRotationService,
  AtlassianOauthStateConflictError,
  AtlassianOauthStateRepo,
} from '../../src/atlassian';

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

export interface ReencryptArgs {
  batchSize: number;
}

export interface ReadArgs {
  tenantId: string;
}
export type ReadResult = { refreshToken: string; accessToken: string | null } | null;

/**
 * Each of `callers` concurrent callers calls `rotate` `iterations` times, pausing up to
 * `maxPauseMs` between calls. A refresh takes `refreshMs` and returns tokens valid for `validityMs`.
 */
export interface RotateLoopArgs {
  worker: number;
  tenantId: string;
  callers: number;
  iterations: number;
  startAt: number;
  refreshMs: number;
  validityMs: number;
  maxPauseMs: number;
  options: AtlassianOauthRotateOptions;
}
/** One `refresh` call: when it ran (epoch ms), the refresh token it was given and the one it returned. */
export interface RefreshRecord {
  start: number;
  end: number;
  received: string;
  returned: string;
}
/** One `rotate` call: when it ran, what it resolved with, and how long it waited (its time outside its own refresh). */
export interface RotateCallRecord {
  start: number;
  end: number;
  refreshToken: string;
  refreshed: boolean;
  waitedMs: number;
}
export interface RotateLoopResult {
  refreshes: RefreshRecord[];
  calls: RotateCallRecord[];
}

/**
 * One `rotate` call. Its refresh prints `{"event":"refreshing","leaseExpiresAt":...}`, then takes
 * `holdMs` (`null`: forever, until the process is killed) and returns `newRefreshToken`, or throws
 * an error quoting the refresh token when `fail` is set. The call starts at `startAt`, and with
 * `afterLease` only once another caller holds the key's lease (failing after 30 s without one).
 */
export interface RotateOnceArgs {
  tenantId: string;
  startAt?: number;
  newRefreshToken: string;
  holdMs: number | null;
  fail?: boolean;
  afterLease?: boolean;
  options: AtlassianOauthRotateOptions;
}
export type RotateOnceResult =
  | { refreshToken: string; start: number; end: number; refresh: RefreshRecord | null }
  | { error: { name: string; message: string; causeMessage: string | null; refreshCalled: boolean } };

export interface LeaseRow {
  holder: string;
  expiresAt: number;
}

/** Lets processes that booted at different speeds start their work together. */
async function waitUntil(startAt = 0): Promise<void> {
  await sleep(Math.max(0, startAt - Date.now()));
}

async function write(
  repo: AtlassianOauthStateRepo,
  { worker, tenants, iterations, startAt }: WriteArgs,
): Promise<WriteResult> {
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

async function rotateLoop(rotation: AtlassianOauthRotationService, args: RotateLoopArgs): Promise<RotateLoopResult> {
  await waitUntil(args.startAt);
  const refreshes: RefreshRecord[] = [];
  const calls: RotateCallRecord[] = [];
  const caller = async (c: number): Promise<void> => {
    for (let i = 0; i < args.iterations; i++) {
      let own: RefreshRecord | undefined;
      const start = Date.now();
      const state = await rotation.rotate(
        PLATFORM,
        args.tenantId,
        async (current) => {
          const record: RefreshRecord = {
            start: Date.now(),
            end: 0,
            received: current.refreshToken,
            returned: `w${args.worker}-c${c}-i${i}`,
          };
          await sleep(args.refreshMs);
          record.end = Date.now();
          refreshes.push(record);
          own = record;
          return {
            accessToken: `access-${record.returned}`,
            refreshToken: record.returned,
            expiresAt: new Date(record.end + args.validityMs),
          };
        },
        args.options,
      );
      const end = Date.now();
      const refreshed = own !== undefined;
      calls.push({
        start,
        end,
        refreshToken: state.refreshToken,
        refreshed,
        waitedMs: end - start - (own ? own.end - own.start : 0),
      });
      await sleep(Math.random() * args.maxPauseMs);
    }
  };
  await Promise.all(Array.from({ length: args.callers }, (_, c) => caller(c)));
  return { refreshes, calls };
}

async function leaseRows(app: INestApplicationContext, tenantId: string): Promise<LeaseRow[]> {
  const rows = await app
    .get<DataSource>(getDataSourceToken())
    .getRepository(AtlassianOauthRefreshLeaseEntity)
    .findBy({ platform: PLATFORM, tenantId });
  return rows.map((row) => ({ holder: row.holder, expiresAt: row.expiresAt.getTime() }));
}

async function rotateOnce(app: INestApplicationContext, args: RotateOnceArgs): Promise<RotateOnceResult> {
  await waitUntil(args.startAt);
  const giveUpAt = Date.now() + 30_000;
  while (args.afterLease && (await leaseRows(app, args.tenantId)).length === 0) {
    if (Date.now() > giveUpAt) {
      throw new Error('nobody took the lease within 30 s');
    }
    await sleep(5);
  }
  let refresh: RefreshRecord | null = null;
  const start = Date.now();
  try {
    const state = await app.get(AtlassianOauthRotationService).rotate(
      PLATFORM,
      args.tenantId,
      async (current) => {
        refresh = { start: Date.now(), end: 0, received: current.refreshToken, returned: args.newRefreshToken };
        const [lease] = await leaseRows(app, args.tenantId);
        process.stdout.write(`${JSON.stringify({ event: 'refreshing', leaseExpiresAt: lease?.expiresAt })}\n`);
        if (args.holdMs === null) {
          // Hang until killed; the timer keeps the event loop, and so the process, alive.
          await new Promise(() => setInterval(() => undefined, 1_000));
        }
        await sleep(args.holdMs ?? 0);
        if (args.fail) {
          throw new Error(`invalid_grant: refresh token ${current.refreshToken} is revoked`);
        }
        refresh.end = Date.now();
        return { refreshToken: args.newRefreshToken, expiresAt: new Date(Date.now() + 3_600_000) };
      },
      args.options,
    );
    return { refreshToken: state.refreshToken, start, end: Date.now(), refresh };
  } catch (error) {
    const { name, message, cause } = error as Error;
    return {
      error: {
        name,
        message,
        causeMessage: cause instanceof Error ? cause.message : null,
        refreshCalled: refresh !== null,
      },
    };
  }
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
    case 'rotate-loop':
      result = await rotateLoop(app.get(AtlassianOauthRotationService), args as RotateLoopArgs);
      break;
    case 'rotate-once':
      result = await rotateOnce(app, args as RotateOnceArgs);
      break;
    case 'read': {
      const state = await repo.get(PLATFORM, (args as ReadArgs).tenantId);
      result = state && { refreshToken: state.refreshToken, accessToken: state.accessToken };
      break;
    }
    case 'reencrypt': {
      const { batchSize } = args as ReencryptArgs;
      // One `{"event":"progress",...}` line per batch, so that a parent can kill the process mid-run.
      result = await app.get(AtlassianOauthReencryptionService).reencryptAll({
        batchSize,
        onProgress: (progress) => process.stdout.write(`${JSON.stringify({ event: 'progress', ...progress })}\n`),
      });
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
