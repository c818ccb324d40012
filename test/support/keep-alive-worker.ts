/**
 * A separate OS process that runs the keep-alive sweep, as one instance of the service would on
 * its schedule. Started through test/support/store-processes.ts with DATABASE_PATH or DATABASE_URL
 * and the ATLASSIAN_* variables in its environment; prints the sweep's counts as one JSON line.
 *
 * Usage: keep-alive-worker.ts sweep <json-args>
 */
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AtlassianOauthKeepAliveModule, AtlassianOauthKeepAliveService } from '../../src/atlassian';
import { DatabaseModule } from '../../src/database/database.module';

/**
 * Prints `{"event":"ready"}` once booted, then starts the sweep as soon as the file `goFile` exists,
 * so that the test starts every worker's sweep at the same moment whatever their boot took.
 */
export interface SweepArgs {
  goFile: string;
  idleForMs: number;
}

@Module({ imports: [DatabaseModule, AtlassianOauthKeepAliveModule] })
class KeepAliveWorkerModule {}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  if (mode !== 'sweep' || json === undefined) {
    throw new Error(`unknown mode ${mode}`);
  }
  const args = JSON.parse(json) as SweepArgs;
  const app = await NestFactory.createApplicationContext(KeepAliveWorkerModule, { logger: false });
  process.stdout.write(JSON.stringify({ event: 'ready' }) + '\n');
  while (!existsSync(args.goFile)) {
    await sleep(2);
  }
  const counts = await app.get(AtlassianOauthKeepAliveService).run({ idleForMs: args.idleForMs });
  await app.close();
  process.stdout.write(JSON.stringify(counts) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : 'failed'}\n`);
  process.exit(1);
});
