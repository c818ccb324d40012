import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianOauthRefreshHealthRepo, AtlassianOauthStateEntity, AtlassianOauthStateRepo } from '../src/atlassian';
import { FileDatabase, openFileDatabase } from './support/file-database';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { ScriptedHttpServer, startScriptedHttpServer } from './support/scripted-http-server';
import { freePort } from './support/free-port';

const ROOT = join(__dirname, '..');
const DAY_MS = 24 * 3_600_000;

/** A running CLI process: what it printed so far, a wait for a line, and its end. */
interface CliProcess {
  stdout: () => string;
  waitFor: (pattern: RegExp) => Promise<RegExpMatchArray>;
  exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts `agent-core <args>` from the sources as its own OS process on `database`, secrets in its environment. */
function startCli(database: string, args: string[], env: Record<string, string>): CliProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, DATABASE_PATH: database, NO_COLOR: '1' };
  delete childEnv.NODE_ENV;
  delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: childEnv,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  const waitFor = (pattern: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const look = (): boolean => {
        const match = stdout.match(pattern);
        if (match) {
          resolve(match);
        }
        return match !== null;
      };
      if (!look()) {
        const onData = (): void => {
          if (look()) {
            child.stdout.off('data', onData);
          }
        };
        child.stdout.on('data', onData);
        void exit.then(() => reject(new Error(`the CLI exited before printing ${pattern}: ${stderr}`)));
      }
    });
  return { stdout: () => stdout, waitFor, exit };
}

describe('agent-core connect, keep-alive and list against a real OAuth server', () => {
  let port: number;
  let server: OauthTestServer;
  let database: FileDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    port = await freePort();
    server = await startOauthServer({ redirectUris: [`http://127.0.0.1:${port}/callback`] });
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    database = await openFileDatabase('agent-core-cli-atlassian-');
    env = server.env;
    await server.resetStats();
  });
  afterEach(async () => {
    await database.close();
  });

  const repo = (): AtlassianOauthStateRepo => database.moduleRef.get(AtlassianOauthStateRepo);
  const health = (): AtlassianOauthRefreshHealthRepo => database.moduleRef.get(AtlassianOauthRefreshHealthRepo);

  it('connect prints the consent URL, refuses a redirect with a wrong state, and stores the exchanged code', async () => {
    const cli = startCli(database.path, ['connect', 'jira', 'acme', '--port', String(port), '--timeout', '60'], env);
    const [printed = ''] = await cli.waitFor(/^http\S+$/m);
    const consent = new URL(printed);
    const state = consent.searchParams.get('state') ?? '';
    const callback = `http://127.0.0.1:${port}/callback`;

    const forged = await fetch(`${callback}?code=forged&state=${'x'.repeat(state.length)}`);
    const { code } = await server.mintGrant({ redirectUri: callback });
    const real = await fetch(`${callback}?${new URLSearchParams({ code, state }).toString()}`);
    const done = await cli.exit;

    expect(consent.origin + consent.pathname).toBe(server.authorizeUrl);
    expect(Object.fromEntries(consent.searchParams)).toMatchObject({
      audience: 'api.atlassian.com',
      client_id: server.clientId,
      redirect_uri: callback,
      response_type: 'code',
      prompt: 'consent',
      scope: 'read:jira-work offline_access',
    });
    expect(state.length).toBeGreaterThanOrEqual(43);
    expect(forged.status).toBe(400);
    expect(real.status).toBe(200);
    expect(done.code).toBe(0);
    expect(done.stderr).toMatch(/refused a redirect whose state does not match/);
    expect(done.stdout).toMatch(/^connected jira +acme +access token present +expires in 1h +updated \S+Z$/m);
    // The sites the grant reaches, read from accessible-resources right after the tokens.
    expect(done.stdout).toMatch(/^site +[0-9a-f-]{36} +https:\/\/default\.atlassian\.net +default +read:jira-work$/m);
    const stored = await repo().get('jira', 'acme');
    const output = done.stdout + done.stderr;
    expect(
      stored !== null && !output.includes(stored.refreshToken) && !output.includes(stored.accessToken ?? '-'),
    ).toBe(true);
    expect(output.includes(code)).toBe(false);
    // Only the one real code reached the token endpoint; the forged one never did.
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1, issued: { authorizationCode: 1 } });
  });

  it('connect stores a grant that reaches no site of the platform, says so and exits 1', async () => {
    const cli = startCli(
      database.path,
      ['connect', 'jira', 'wiki-only', '--port', String(port), '--timeout', '60'],
      env,
    );
    const [printed = ''] = await cli.waitFor(/^http\S+$/m);
    const state = new URL(printed).searchParams.get('state') ?? '';
    const callback = `http://127.0.0.1:${port}/callback`;
    // The customer consented without a Jira scope: the grant reaches the site, but not for Jira.
    const { code } = await server.mintGrant({
      redirectUri: callback,
      scope: 'offline_access read:confluence-content.summary',
    });
    const browser = await fetch(`${callback}?${new URLSearchParams({ code, state }).toString()}`);
    const done = await cli.exit;

    expect(browser.status).toBe(502);
    await expect(browser.text()).resolves.toContain('reaches no jira site');
    expect(done.code).toBe(1);
    expect(done.stdout).not.toMatch(/^connected/m);
    expect(done.stderr).toBe(
      "agent-core: the grant of jira/wiki-only is stored, but it reaches no jira site: run connect again and choose a site that has jira on Atlassian's consent page (or ask for a jira scope with --scope)\n",
    );
    await expect(repo().get('jira', 'wiki-only')).resolves.toMatchObject({ refreshToken: expect.any(String) });
    const list = await startCli(database.path, ['list'], {}).exit;
    expect(list.stdout).toMatch(/^jira +wiki-only +.* {2}0 sites {2}ok$/m);
  }, 120_000);

  it('sites lists what is stored, --json, --refresh reads Atlassian again; exit 1 for an unknown key or no site', async () => {
    const grant = await server.connectedGrant();
    await repo().upsert('jira', 'acme', grant);
    const resource = (n: number) => ({
      id: `${n}`.repeat(8) + '-0000-4000-8000-000000000000',
      url: `https://site-${n}.atlassian.net`,
      name: `site-${n}`,
      scopes: ['read:jira-work'],
      avatarUrl: `https://avatars.example/${n}.png`,
    });
    await server.setAccessibleResources([resource(2), resource(1)], grant.grantId);
    try {
      const before = await startCli(database.path, ['sites', 'jira', 'acme'], {}).exit;
      const refreshed = await startCli(database.path, ['sites', 'jira', 'acme', '--refresh'], env).exit;
      const stored = await startCli(database.path, ['sites', 'jira', 'acme', '--json'], {}).exit;
      const list = await startCli(database.path, ['list'], {}).exit;
      const unknown = await startCli(database.path, ['sites', 'jira', 'nobody'], {}).exit;

      expect(before).toEqual({
        code: 1,
        stdout: '',
        stderr: 'agent-core: the grant of jira/acme reaches no jira site (as stored; --refresh reads Atlassian)\n',
      });
      expect(refreshed).toEqual({
        code: 0,
        stdout:
          `site  ${resource(1).id}  https://site-1.atlassian.net  site-1  read:jira-work\n` +
          `site  ${resource(2).id}  https://site-2.atlassian.net  site-2  read:jira-work\n`,
        stderr: '',
      });
      expect(stored.code).toBe(0);
      expect(JSON.parse(stored.stdout)).toEqual([
        {
          cloudId: resource(1).id,
          url: 'https://site-1.atlassian.net',
          name: 'site-1',
          scopes: ['read:jira-work'],
          avatarUrl: 'https://avatars.example/1.png',
          updatedAt: expect.stringMatching(/Z$/),
        },
        expect.objectContaining({ cloudId: resource(2).id }),
      ]);
      expect(list.stdout).toMatch(/^jira +acme +.* {2}2 sites {2}ok$/m);
      expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'agent-core: no state stored for jira/nobody\n' });
      const output = [before, refreshed, stored, list].map((r) => r.stdout + r.stderr).join('');
      expect(output.includes(grant.refreshToken) || output.includes(grant.accessToken)).toBe(false);
    } finally {
      await server.setAccessibleResources(null, grant.grantId);
    }
  }, 120_000);

  it('connect times out clearly when no redirect comes, storing nothing', async () => {
    const cli = startCli(database.path, ['connect', 'jira', 'late', '--port', String(port), '--timeout', '1'], env);

    const done = await cli.exit;

    expect(done.code).toBe(1);
    expect(done.stderr).toBe(
      `agent-core: no redirect reached http://127.0.0.1:${port}/callback within 1s; nothing stored. Run connect again and approve in time\n`,
    );
    await expect(repo().get('jira', 'late')).resolves.toBeNull();
  });

  it('keep-alive refreshes the idle grants, names a newly revoked one and exits 1; list --unhealthy lists it and exits 1', async () => {
    const states = database.moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianOauthStateEntity);
    for (const tenant of ['idle-1', 'idle-2', 'revoked', 'fresh']) {
      const grant = await server.connectedGrant();
      await repo().upsert('jira', tenant, grant);
      if (tenant !== 'fresh') {
        await states.update({ platform: 'jira', tenantId: tenant }, { updatedAt: new Date(Date.now() - 40 * DAY_MS) });
      }
      if (tenant === 'revoked') {
        await server.revokeGrant(grant.grantId);
      }
    }
    await server.resetStats();

    const sweep = await startCli(database.path, ['keep-alive'], env).exit;
    const text = await startCli(database.path, ['list'], {}).exit;
    const unhealthy = await startCli(database.path, ['list', '--unhealthy', '--json'], {}).exit;
    // Run again: the revocation is known now, so the grant is skipped and counted, not reported again.
    const again = await startCli(database.path, ['keep-alive'], env).exit;

    expect(sweep).toEqual({
      code: 1,
      stdout: 'revoked: jira/revoked\nkeep-alive done: refreshed 2, fresh 1, revoked 1, failed 0\n',
      stderr:
        "agent-core: 1 grant(s) found revoked: the tenant must connect again (listed above); see 'agent-core list --unhealthy'\n",
    });
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 3, issued: { refreshToken: 2 } });
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.filter((line) => line.endsWith('  ok'))).toHaveLength(3);
    // Keep-alive read the sites of the grants it refreshed.
    expect(lines.find((line) => line.startsWith('jira  idle-1'))).toMatch(/ {2}1 site {3}ok$/);
    expect(lines.find((line) => line.startsWith('jira  revoked'))).toMatch(
      / {2}needs reconnect \(grant revoked \d{4}-\d\d-\d\dT\S+Z\)$/,
    );
    expect(unhealthy.code).toBe(1);
    expect(unhealthy.stderr).toBe(
      'agent-core: 1 state(s) need attention (listed above): refresh failing or grant revoked\n',
    );
    expect(JSON.parse(unhealthy.stdout)).toEqual([
      expect.objectContaining({
        tenantId: 'revoked',
        health: { status: 'revoked', since: expect.any(String), text: expect.stringMatching(/^needs reconnect/) },
      }),
    ]);
    expect(again).toEqual({
      code: 0,
      stdout: 'keep-alive done: refreshed 0, fresh 3, revoked 1, failed 0\n',
      stderr: '',
    });
  }, 240_000);

  it('list --unhealthy exits 0 with nothing listed when every grant is healthy', async () => {
    await repo().upsert('jira', 'acme', { refreshToken: 'refresh-1234' });

    const unhealthy = await startCli(database.path, ['list', '--unhealthy'], {}).exit;

    expect(unhealthy).toEqual({ code: 0, stdout: '', stderr: 'agent-core: no unhealthy state\n' });
  }, 120_000);

  describe('while the token endpoint fails', () => {
    let endpoint: ScriptedHttpServer;

    beforeEach(async () => {
      endpoint = await startScriptedHttpServer();
    });
    afterEach(async () => {
      await endpoint.close();
    });

    it('keep-alive exits 1 naming the grants it could not refresh; list shows them failing', async () => {
      await repo().upsert('jira', 'down', { refreshToken: 'refresh-down-1234' });
      await database.moduleRef
        .get<DataSource>(getDataSourceToken())
        .getRepository(AtlassianOauthStateEntity)
        .update({ platform: 'jira', tenantId: 'down' }, { updatedAt: new Date(Date.now() - 40 * DAY_MS) });
      endpoint.script({ status: 503 });

      const sweep = await startCli(database.path, ['keep-alive'], { ...env, ATLASSIAN_OAUTH_TOKEN_URL: endpoint.url })
        .exit;
      const list = await startCli(database.path, ['list', '--unhealthy'], {}).exit;

      expect(sweep.code).toBe(1);
      expect(sweep.stdout).toMatch(
        /^failed: Keep-alive could not refresh \("jira", "down"\): AtlassianOauthTokenEndpointError/m,
      );
      expect(sweep.stdout).toMatch(/^keep-alive done: refreshed 0, fresh 0, revoked 0, failed 1$/m);
      expect(sweep.stderr).toMatch(/^agent-core: 1 idle grant\(s\) could not be refreshed now/);
      expect(list.stdout).toMatch(/^jira {2}down {2}.* {2}refresh failing since \S+Z \(1 attempt\)\n$/);
      expect(sweep.stdout + sweep.stderr + list.stdout).not.toContain('refresh-down-1234');
    });

    it('a grant that failed, then was found revoked, shows the revocation time and is named by keep-alive', async () => {
      await repo().upsert('jira', 'gone', { refreshToken: 'refresh-gone-1234' });
      const states = database.moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianOauthStateEntity);
      await states.update({ platform: 'jira', tenantId: 'gone' }, { updatedAt: new Date(Date.now() - 40 * DAY_MS) });
      const sweepEnv = { ...env, ATLASSIAN_OAUTH_TOKEN_URL: endpoint.url, ATLASSIAN_REFRESH_COOLDOWN_MS: '1' };
      endpoint.script({ status: 503 });
      const first = await startCli(database.path, ['keep-alive'], sweepEnv).exit;
      const failedAt = (await health().get('jira', 'gone'))?.firstFailedAt;
      endpoint.script({
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"invalid_grant"}',
      });
      const second = await startCli(database.path, ['keep-alive'], sweepEnv).exit;
      const revoked = await startCli(database.path, ['list', '--unhealthy', '--json'], {}).exit;

      expect(first.code).toBe(1);
      expect(second).toMatchObject({ code: 1, stdout: expect.stringMatching(/^revoked: jira\/gone$/m) });
      const row = await health().get('jira', 'gone');
      expect(row).toMatchObject({ status: 'revoked', failures: 2, firstFailedAt: failedAt });
      // The revocation came after the first failure: its own (latest) time is shown, not the first failure's.
      expect(row?.lastFailedAt.getTime()).toBeGreaterThan(failedAt?.getTime() ?? Infinity);
      expect(JSON.parse(revoked.stdout)).toEqual([
        expect.objectContaining({
          tenantId: 'gone',
          health: expect.objectContaining({ status: 'revoked', since: row?.lastFailedAt.toISOString() }),
        }),
      ]);
      expect(endpoint.requests).toHaveLength(2);
    }, 180_000);
  });

  it('keep-alive without the client credentials exits 3 naming the variable', async () => {
    await repo().upsert('jira', 'acme', { refreshToken: 'refresh-1234' });

    const sweep = await startCli(database.path, ['keep-alive'], {}).exit;

    expect(sweep).toMatchObject({ code: 3, stdout: '' });
    expect(sweep.stderr).toMatch(/^agent-core: ATLASSIAN_CLIENT_ID is not set/);
  });
});
