/**
 * `npm run bench:reencrypt [-- --rows N] [-- --batch N] [-- --memory]`: what `reencryptAll` costs
 * on a table of legacy plaintext rows, on the production SQLite file settings (WAL,
 * synchronous=FULL) or `:memory:`. Prints one JSON line: duration, rows per second, and the JS
 * heap after a forced GC at every batch (its spread shows whether memory stays flat as the run
 * goes through the table). A benchmark, not a test: it fails only if something breaks.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { Command } from 'commander';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module';
import { AtlassianOauthReencryptionService } from '../src/atlassian';

const megabytes = (bytes: number): number => Math.round(bytes / 1e5) / 10;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

async function run(rows: number, batchSize: number, memory: boolean): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-core-reencrypt-'));
  process.env.DATABASE_PATH = memory ? ':memory:' : join(dir, 'agent-core.sqlite');
  process.env.OAUTH_STATE_ENCRYPTION_KEYS = `bench:${randomBytes(32).toString('base64')}`;
  delete process.env.NODE_ENV;
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  try {
    // Rows as agent-core wrote them before encryption: plaintext, access tokens of a realistic size.
    await app.get<DataSource>(getDataSourceToken()).transaction(async (manager) => {
      for (let i = 0; i < rows; i++) {
        await manager.query(
          `INSERT INTO atlassian_oauth_state (id, platform, tenant_id, accessToken, refreshToken, updatedAt) VALUES (?, 'jira', ?, ?, ?, datetime('now'))`,
          [`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, `tenant-${i}`, 'a'.repeat(1200), 'r'.repeat(300)],
        );
      }
    });
    const reencryption = app.get(AtlassianOauthReencryptionService);
    const heaps: number[] = [];
    gc();
    const started = Date.now();
    const counts = await reencryption.reencryptAll({
      batchSize,
      onProgress: () => {
        gc();
        heaps.push(process.memoryUsage().heapUsed);
      },
    });
    const ms = Date.now() - started;
    const rerunStarted = Date.now();
    const rerun = await reencryption.reencryptAll({ batchSize });
    return {
      database: memory ? ':memory:' : 'file (WAL, synchronous=FULL)',
      rows,
      batchSize,
      counts,
      ms,
      rowsPerSecond: Math.round(rows / (ms / 1000)),
      heapAfterGcMB:
        heaps.length > 0
          ? {
              first: megabytes(heaps[0] ?? 0),
              min: megabytes(Math.min(...heaps)),
              max: megabytes(Math.max(...heaps)),
              last: megabytes(heaps[heaps.length - 1] ?? 0),
            }
          : null,
      gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
      rerun: { counts: rerun, ms: Date.now() - rerunStarted },
    };
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const program = new Command()
  .name('bench:reencrypt')
  .option('--rows <n>', 'legacy plaintext rows to seal', '10000')
  .option('--batch <n>', 'reencryptAll batchSize', '500')
  .option('--memory', 'use :memory: instead of a database file')
  .action(async (options: { rows: string; batch: string; memory?: boolean }) => {
    process.stdout.write(
      `${JSON.stringify(await run(Number(options.rows), Number(options.batch), options.memory === true))}\n`,
    );
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`bench:reencrypt failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
