/**
 * A separate OS process that asks AtlassianOauthTokenService for access tokens, as one replica of
 * a service calling Jira would. Started through test/support/store-processes.ts with DATABASE_PATH
 * or DATABASE_URL and the ATLASSIAN_* variables in its environment; prints one JSON line of
 * results. It never prints a token: only a short hash of each one, to compare them.
 *
 * Usage: token-worker.ts access-token-loop <json-args>
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

@Module({ imports: [DatabaseModule, AtlassianOauthTokensModule] })
class TokenWorkerModule {}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
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
          tokens.add(createHash('sha256').update(token).digest('hex').slice(0, 12));
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
