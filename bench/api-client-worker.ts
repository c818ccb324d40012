/**
 * `AtlassianApiClient.request` against a raw `fetch` with a fixed token (the target's baseline), and
 * against a raw undici `request` (the transport the client sends with), in a process of its own.
 * Started by bench/lib/api-client.ts with the job as JSON in argv[2] (the local server that
 * answers at once); answers with one IPC message of both variants' call times.
 */
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Agent } from 'undici';
import { AtlassianApiClient, AtlassianApiModule, AtlassianOauthStateRepo } from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import type { ApiLatencyJob } from './lib/api-client';

@Module({ imports: [DatabaseModule, AtlassianApiModule] })
class ApiClientBenchModule {}

const TOKEN = 'bench-access-token';

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ApiLatencyJob;
  Object.assign(process.env, {
    DATABASE_PATH: ':memory:',
    ATLASSIAN_CLIENT_ID: 'bench-client',
    ATLASSIAN_CLIENT_SECRET: 'bench-client-secret',
    ATLASSIAN_API_BASE_URL: job.baseUrl,
  });
  const app = await NestFactory.createApplicationContext(ApiClientBenchModule, { logger: ['error'] });
  try {
    await app.get(AtlassianOauthStateRepo).upsert('jira', 'bench', {
      accessToken: TOKEN,
      refreshToken: 'bench-refresh-token',
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const client = app.get(AtlassianApiClient);
    const url = `${job.baseUrl}/ex/jira/cloud-1/rest/api/3/myself`;
    const raw = async (): Promise<void> => {
      const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json' } });
      await response.json();
    };
    const agent = new Agent();
    const { origin, pathname } = new URL(url);
    const rawUndici = async (): Promise<void> => {
      const response = await agent.request({
        origin,
        path: pathname,
        method: 'GET',
        headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json' },
      });
      await response.body.json();
    };
    const viaClient = async (): Promise<void> => {
      await client.get('/rest/api/3/myself', { platform: 'jira', tenantId: 'bench', site: 'cloud-1' });
    };
    const fetchMs: number[] = [];
    const requestMs: number[] = [];
    const undiciMs: number[] = [];
    for (let i = 0; i < job.warmup; i++) {
      await raw();
      await rawUndici();
      await viaClient();
    }
    // Alternated call by call, so that a noisy moment of the machine falls on both.
    for (let i = 0; i < job.calls; i++) {
      let started = performance.now();
      await raw();
      fetchMs.push(performance.now() - started);
      started = performance.now();
      await rawUndici();
      undiciMs.push(performance.now() - started);
      started = performance.now();
      await viaClient();
      requestMs.push(performance.now() - started);
    }
    await agent.close();
    process.send?.({ result: { fetchMs, requestMs, undiciMs } });
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.send?.({ error: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
});
