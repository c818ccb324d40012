import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianModule, AtlassianOauthStateRepo } from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import { testConfig, withConfig } from './support/config';
import { InProcessRun, runCliInProcess } from './support/run-cli-in-process';
import { SERVERS_UNDER_TEST, createFreshDatabase, describeOnServer } from './support/server-databases';

/** Boots the service's store on `env` (creating the schema: SQLite synchronizes, a server migrates), stores one key, closes. */
async function createAgentCoreDatabase(env: Record<string, string>, alter?: (dataSource: DataSource) => Promise<void>) {
  const moduleRef = await withConfig(
    Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
    testConfig(env),
  ).compile();
  await moduleRef.init();
  try {
    await moduleRef.get(AtlassianOauthStateRepo).upsert('jira', 'acme', { refreshToken: 'refresh-acme-1234' });
    await alter?.(moduleRef.get<DataSource>(getDataSourceToken()));
  } finally {
    await moduleRef.close();
  }
}

const check = (env: NodeJS.ProcessEnv): Promise<InProcessRun> => runCliInProcess(['check'], env);

describe('agent-core check: the schema', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-check-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 3 saying "no agent-core tables" for an empty file, and leaves it empty', async () => {
    const path = join(dir, 'empty.sqlite');
    writeFileSync(path, '');

    const run = await check({ DATABASE_PATH: path });

    expect(run).toMatchObject({ code: 3, stdout: '' });
    expect(run.stderr).toMatch(/^agent-core: failed: SQLite database \S+empty\.sqlite has no agent-core tables \(/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(statSync(path).size).toBe(0);
  });

  it("exits 3 for another application's SQLite database", async () => {
    const path = join(dir, 'foreign.sqlite');
    const foreign = await new DataSource({ type: 'better-sqlite3', database: path }).initialize();
    await foreign.query('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)');
    await foreign.destroy();

    const run = await check({ DATABASE_PATH: path });

    expect(run.code).toBe(3);
    expect(run.stderr).toContain('has no agent-core tables');
  });

  it('exits 1 naming each missing table and column of a file that has only part of the schema', async () => {
    const path = join(dir, 'partial.sqlite');
    await createAgentCoreDatabase({ DATABASE_PATH: path }, async (dataSource) => {
      await dataSource.query('DROP TABLE atlassian_oauth_refresh_lease');
      await dataSource.query('ALTER TABLE atlassian_oauth_refresh_health DROP COLUMN retry_at');
    });

    const run = await check({ DATABASE_PATH: path });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^agent-core: failed: SQLite database \S+ lacks table atlassian_oauth_refresh_lease, column atlassian_oauth_refresh_health\.retry_at: /,
    );
  });

  it('exits 0 on a database the service created, saying it has every table and column', async () => {
    const path = join(dir, 'agent-core.sqlite');
    await createAgentCoreDatabase({ DATABASE_PATH: path });

    const run = await check({ DATABASE_PATH: path });

    expect(run).toEqual({
      code: 0,
      stdout: `ok: SQLite database ${path} passed SQLite's integrity check and has every agent-core table and column\n`,
      stderr: '',
    });
  });

  for (const server of SERVERS_UNDER_TEST) {
    describeOnServer(server, 'check', (adminUrl) => {
      // The MariaDB suite's URL may say mysql:// or mariadb://: either way the server is named for what it is.
      const engine = server.type === 'postgres' ? 'PostgreSQL' : 'MariaDB';

      it('exits 3 on an empty database and 0 once the service has migrated it, naming the engine', async () => {
        const fresh = await createFreshDatabase(adminUrl);
        try {
          const url = server.type === 'postgres' ? fresh.url : fresh.url.replace(/^mariadb:/, 'mysql:');
          const empty = await check({ DATABASE_URL: url });
          await createAgentCoreDatabase({ DATABASE_URL: url });
          const migrated = await check({ DATABASE_URL: url });

          expect(empty.code).toBe(3);
          expect(empty.stderr).toMatch(
            new RegExp(`^agent-core: failed: ${engine} database \\S+ has no agent-core tables`),
          );
          expect(migrated).toMatchObject({ code: 0, stderr: '' });
          expect(migrated.stdout).toMatch(
            new RegExp(`^ok: ${engine} database \\S+ answers and its schema is up to date\\n$`),
          );
        } finally {
          await fresh.drop();
        }
      }, 60_000);
    });
  }
});
