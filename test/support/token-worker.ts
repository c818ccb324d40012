/**
 * A separate OS process that asks AtlassianOauthTokenService for access tokens, as one replica of
 * a service calling Jira would. Started through test/support/store-processes.ts with DATABASE_PATH
 * or DATABASE_URL and the ATLASSIAN_* variables in its environment; prints one JSON line of
 * results. It never prints a token: only a short hash of each one, to compare them.
 *
 * Usage: token-worker.ts access-token-loop <json-args>
 *        token-worker.ts serve-once-then-wait <json-args>
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AtlassianOauthTokenService, AtlassianOauthTokensModule } from '../../src/atlassian';
import { DatabaseModule } from '../../src/database/database.module';
import { PLATFORM } from './store-processes';

/** Each of `callers` concurrent callers calls `accessToken` `iterations` times from `startAt` on, pausing up to `maxPauseMs`. */
export interface AccessTokenLoopArgs {
  tenantId: string;
  callers: number;
  iterations: number;
  startAt: number;
  maxPauseMs: number;
  minValidityMs: number;
}
export interface AccessTokenLoopResult {
  calls: number;
  /** Error names of the calls that rejected. */
  failures: string[];
  /** A 12-character hash of each distinct token handed out. */
  tokens: string[];
}

/** `serve-once-then-wait`: one `accessToken` call, then the process waits for a signal (Nest's shutdown hooks on). */
export interface ServeOnceArgs {
  tenantId: string;
}

@Module({ imports: [DatabaseModule, AtlassianOauthTokensModule] })
class TokenWorkerModule {}

/** A 12-character hash of a token: enough to compare two, never the token itself. */
const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 12);

/**
 * Calls `accessToken` once, prints `{"event":"served","token":<hash>}` (or `"failed"` with the error's
 * name), then keeps running until a signal: SIGTERM goes through Nest's shutdown hooks, as it
 * does in `npm start`, and the process exits when they are done.
 */
async function serveOnceThenWait(args: ServeOnceArgs): Promise<void> {
  const app = await NestFactory.createApplicationContext(TokenWorkerModule, { logger: false });
  app.enableShutdownHooks();
  try {
    const token = await app.get(AtlassianOauthTokenService).accessToken(PLATFORM, args.tenantId);
    process.stdout.write(JSON.stringify({ event: 'served', token: hashOf(token) }) + '\n');
  } catch (error) {
    process.stdout.write(
      JSON.stringify({ event: 'failed', error: error instanceof Error ? error.name : 'non-Error' }) + '\n',
    );
  }
  // Kept alive by this timer until the signal; Nest's hook exits the process after closing.
  setInterval(() => undefined, 60_000);
}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  if (mode === 'serve-once-then-wait' && json !== undefined) {
    return serveOnceThenWait(JSON.parse(json) as ServeOnceArgs);
  }
  if (mode !== 'access-token-loop' || json === undefined) {
    throw new Error(`unknown mode ${mode}`);
  }
  const args = JSON.parse(json) as AccessTokenLoopArgs;
  const app = await NestFactory.createApplicationContext(TokenWorkerModule, { logger: false });
  const sut = app.get(AtlassianOauthTokenService);
  await sleep(Math.max(0, args.startAt - Date.now()));
  const failures: string[] = [];
  const tokens = new Set<string>();
  let calls = 0;
  await Promise.all(
    Array.from({ length: args.callers }, async () => {
      for (let i = 0; i < args.iterations; i++) {
        calls += 1;
        try {
          const token = await sut.accessToken(PLATFORM, args.tenantId, { minValidityMs: args.minValidityMs });
          tokens.add(hashOf(token));
        } catch (error) {
          failures.push(error instanceof Error ? error.name : 'non-Error');
        }
        await sleep(Math.random() * args.maxPauseMs);
      }
    }),
  );
  await app.close();
  const result: AccessTokenLoopResult = { calls, failures, tokens: [...tokens] };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : 'failed'}\n`);
  process.exit(1);
});
