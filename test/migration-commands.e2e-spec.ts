import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SERVER_MIGRATIONS } from '../src/database/migrations';
import { FreshDatabase, SERVERS_UNDER_TEST, createFreshDatabase, describeOnServer } from './support/server-databases';

const ROOT = join(__dirname, '..');

/** Runs `npm run -s migration:<command>` as an operator does, on the database `url` names. */
function migration(
  command: 'run' | 'revert',
  url: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url };
  delete env.NODE_ENV;
  const child = spawn('npm', ['run', '-s', `migration:${command}`], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.each(SERVERS_UNDER_TEST.map((server) => [server.label, server] as const))('%s', (_label, server) => {
  describeOnServer(server, 'npm run migration:run and migration:revert', (adminUrl) => {
    let database: FreshDatabase;

    beforeAll(async () => {
      database = await createFreshDatabase(adminUrl);
    });

    afterAll(async () => {
      await database?.drop();
    });

    it('print one line per migration applied or reverted, and "nothing to do" when there is none', async () => {
      // Class names are what TypeORM records and reports, e.g. CreateAtlassianOauthState1795805829419.
      const MIGRATIONS = SERVER_MIGRATIONS[server.type].map((migration) => migration.name);
      expect(MIGRATIONS.length).toBeGreaterThanOrEqual(4);
      await expect(migration('run', database.url)).resolves.toEqual({
        code: 0,
        stdout: MIGRATIONS.map((name) => `applied ${name}\n`).join(''),
        stderr: '',
      });
      await expect(migration('run', database.url)).resolves.toEqual({
        code: 0,
        stdout: 'nothing to do: every migration is already applied\n',
        stderr: '',
      });
      for (const name of [...MIGRATIONS].reverse()) {
        await expect(migration('revert', database.url)).resolves.toEqual({
          code: 0,
          stdout: `reverted ${name}\n`,
          stderr: '',
        });
      }
      await expect(migration('revert', database.url)).resolves.toEqual({
        code: 0,
        stdout: 'nothing to do: no migration is applied\n',
        stderr: '',
      });
      // One CLI process per migration and three more: the time grows with the migrations, not a target.
    }, 300_000);
  });
});

describe('npm run migration:run without a server', () => {
  it('fails in one line naming DATABASE_URL', async () => {
    await expect(migration('run', '')).resolves.toEqual({
      code: 1,
      stdout: '',
      stderr: expect.stringMatching(
        /^migration:run failed: [^\n]*DATABASE_URL must name a PostgreSQL or MariaDB[^\n]*\n$/,
      ),
    });
  });
});
