/**
 * One keep-alive sweep over idle keys, in a process of its own. Started by bench/lib/keep-alive.ts
 * with the job as JSON in argv[2] (its database and the local token endpoint); answers with one
 * IPC message.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AtlassianOauthKeepAliveModule,
  AtlassianOauthKeepAliveService,
  AtlassianOauthStateEntity,
} from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import type { KeepAliveJob, KeepAliveSweepStats } from './lib/keep-alive';

// bench/lib/processes.ts starts workers without --expose-gc; the heap is measured after a full GC.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const IDLE_MS = 40 * 24 * 3_600_000;
const SEED_BATCH = 500;
const MiB = 1024 * 1024;
const round1 = (value: number): number => Math.round(value * 10) / 10;

@Module({ imports: [DatabaseModule, AtlassianOauthKeepAliveModule] })
class KeepAliveBenchModule {}

/** Idle keys written straight through TypeORM, many a transaction: seeding is not what is measured. */
async function seed(dataSource: DataSource, keys: number): Promise<void> {
  const idleSince = new Date(Date.now() - IDLE_MS);
  const states = dataSource.getRepository(AtlassianOauthStateEntity);
  for (let from = 0; from < keys; from += SEED_BATCH) {
    const rows = Array.from({ length: Math.min(SEED_BATCH, keys - from) }, (_, i) => ({
      id: randomUUID(),
      platform: 'jira',
      tenantId: `tenant-${from + i}`,
      accessToken: null,
      refreshToken: `seed-refresh-${from + i}`,
      expiresAt: null,
      updatedAt: idleSince,
    }));
    await states.insert(rows);
  }
  await states.createQueryBuilder().update().set({ updatedAt: idleSince }).execute();
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as KeepAliveJob;
  Object.assign(process.env, {
    DATABASE_PATH: job.database,
    ATLASSIAN_CLIENT_ID: 'bench-client',
    ATLASSIAN_CLIENT_SECRET: 'bench-client-secret',
    ATLASSIAN_OAUTH_TOKEN_URL: job.tokenUrl,
    // The sites read after each refresh goes to the same local endpoint, never to api.atlassian.com.
    ATLASSIAN_API_BASE_URL: new URL(job.tokenUrl).origin,
  });
  const app = await NestFactory.createApplicationContext(KeepAliveBenchModule, { logger: ['error'] });
  try {
    await seed(app.get<DataSource>(getDataSourceToken()), job.keys);
    const heap = (): number => {
      gc();
      return process.memoryUsage().heapUsed / MiB;
    };
    const samples: number[] = [heap()];
    const every = Math.max(1, Math.floor(job.keys / 20));
    const started = process.hrtime.bigint();
    const counts = await app.get(AtlassianOauthKeepAliveService).run({
      idleForMs: IDLE_MS / 2,
      concurrency: job.concurrency,
      onProgress: (p) => {
        if (p.processed % every === 0) {
          samples.push(heap());
        }
      },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (counts.refreshed !== job.keys) {
      throw new Error(`refreshed ${counts.refreshed} of ${job.keys} keys (failed ${counts.failed})`);
    }
    samples.push(heap());
    const result: Omit<KeepAliveSweepStats, 'tokenRequests'> = {
      engine: job.engine,
      keys: job.keys,
      concurrency: job.concurrency,
      seconds: round1(seconds),
      keysPerSec: round1(job.keys / seconds),
      refreshed: counts.refreshed,
      heapFirstMiB: round1(samples[0] ?? 0),
      heapPeakMiB: round1(Math.max(...samples)),
      heapLastMiB: round1(samples[samples.length - 1] ?? 0),
      maxRssMiB: round1(process.resourceUsage().maxRSS / 1024),
    };
    process.send?.({ result });
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.send?.({ error: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
});
