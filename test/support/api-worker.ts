/**
 * A separate OS process that calls Atlassian through AtlassianApiClient, as one replica of a
 * service calling Jira would. Started through test/support/store-processes.ts (or the bench) with
 * DATABASE_PATH or DATABASE_URL and the ATLASSIAN_* variables (ATLASSIAN_API_BASE_URL included) in
 * its environment; prints one JSON line of results, never a token.
 *
 * Usage: api-worker.ts call-loop <json-args>
 */
import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AtlassianApiClient, AtlassianApiModule } from '../../src/atlassian';
import { DatabaseModule } from '../../src/database/database.module';

/** One tenant's load: `callers` loops calling `path` on `site`, each pausing `pauseMs` between calls. */
export interface CallLoopTenant {
  tenantId: string;
  site: string;
  callers: number;
  pauseMs: number;
}

export interface CallLoopArgs {
  platform: string;
  tenants: CallLoopTenant[];
  path: string;
  /**
   * A file the worker waits for once it has booted: it holds `{"startAt": <ms since the epoch>}`,
   * written once every process is ready, so that they all start calling together.
   */
  startFile: string;
  durationMs: number;
}

/** Per tenant: how its calls ended, and the duration of each call that resolved (ms). */
export interface CallLoopResult {
  tenants: Record<string, { ok: number; failures: Record<string, number>; durationsMs: number[] }>;
}

@Module({ imports: [DatabaseModule, AtlassianApiModule] })
class ApiWorkerModule {}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  if (mode !== 'call-loop' || json === undefined) {
    throw new Error(`unknown mode ${mode}`);
  }
  const args = JSON.parse(json) as CallLoopArgs;
  const app = await NestFactory.createApplicationContext(ApiWorkerModule, { logger: false });
  const client = app.get(AtlassianApiClient);
  process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
  while (!existsSync(args.startFile)) {
    await sleep(20);
  }
  const { startAt } = JSON.parse(readFileSync(args.startFile, 'utf8')) as { startAt: number };
  await sleep(Math.max(0, startAt - Date.now()));
  const end = startAt + args.durationMs;
  const result: CallLoopResult = { tenants: {} };
  await Promise.all(
    args.tenants.flatMap((tenant) => {
      const counts = { ok: 0, failures: {} as Record<string, number>, durationsMs: [] as number[] };
      result.tenants[tenant.tenantId] = counts;
      return Array.from({ length: tenant.callers }, async () => {
        while (Date.now() < end) {
          const started = performance.now();
          try {
            await client.get(args.path, { platform: args.platform, tenantId: tenant.tenantId, site: tenant.site });
            counts.ok += 1;
            counts.durationsMs.push(performance.now() - started);
          } catch (error) {
            const name = error instanceof Error ? error.name : 'non-Error';
            counts.failures[name] = (counts.failures[name] ?? 0) + 1;
          }
          if (tenant.pauseMs > 0) {
            await sleep(tenant.pauseMs);
          }
        }
      });
    }),
  );
  await app.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : 'failed'}\n`);
  process.exit(1);
});
