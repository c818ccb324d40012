import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess, killService, startService } from './support/service-process';

describe('the service process (src/main.ts)', () => {
  let dir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-main-'));
  });

  afterEach(async () => {
    await killService(service);
    service = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('creates its database, logs it, and exits 0 on %s', async (signal) => {
    const databasePath = join(dir, 'missing-folder', 'agent-core.sqlite');
    service = startService({ DATABASE_PATH: databasePath });

    await service.running;
    expect(service.output()).toContain(`Database ${databasePath} holds 0 Atlassian OAuth state(s)`);
    expect(existsSync(databasePath)).toBe(true);

    service.child.kill(signal);
    await expect(service.exited).resolves.toBe(0);
    expect(service.output()).toContain(
      `${signal} received: finishing the requests in flight, then closing the database`,
    );
  });

  it('logs that the consent flow is off without AGENT_CORE_INTERNAL_TOKEN', async () => {
    service = startService({ DATABASE_PATH: join(dir, 'agent-core.sqlite'), AGENT_CORE_INTERNAL_TOKEN: undefined });

    await service.running;
    expect(service.output()).toContain('Consent flow off: set AGENT_CORE_INTERNAL_TOKEN');
    expect(service.output()).not.toContain('Consent flow on');
  });

  it('logs that the consent flow is on, naming the public callback URL and no secret', async () => {
    const internalToken = 'internal-token-7Qk2-of-at-least-32-characters';
    const clientSecret = 'client-secret-that-must-stay-out-of-logs';
    service = startService({
      DATABASE_PATH: join(dir, 'agent-core.sqlite'),
      AGENT_CORE_INTERNAL_TOKEN: internalToken,
      ATLASSIAN_CLIENT_ID: 'client-id',
      ATLASSIAN_CLIENT_SECRET: clientSecret,
      AGENT_CORE_PUBLIC_URL: 'https://operator:url-password@agent-core.example/base/',
      AGENT_CORE_RETURN_URLS: 'https://app.example/back',
    });

    await service.running;
    expect(service.output()).toContain(
      'Consent flow on: serving /atlassian/authorizations; Atlassian sends the customer back to https://agent-core.example/base/atlassian/callback',
    );
    expect(service.output()).not.toContain('Consent flow off');
    for (const secret of [internalToken, clientSecret, 'url-password']) {
      expect(service.output()).not.toContain(secret);
    }
  });

  it.each([
    [
      'AGENT_CORE_PUBLIC_URL',
      {
        ATLASSIAN_CLIENT_ID: 'id',
        ATLASSIAN_CLIENT_SECRET: 'secret',
        AGENT_CORE_RETURN_URLS: 'https://app.example/back',
      },
    ],
    [
      'AGENT_CORE_RETURN_URLS',
      {
        ATLASSIAN_CLIENT_ID: 'id',
        ATLASSIAN_CLIENT_SECRET: 'secret',
        AGENT_CORE_PUBLIC_URL: 'https://agent-core.example',
      },
    ],
    [
      'ATLASSIAN_CLIENT_ID',
      { AGENT_CORE_PUBLIC_URL: 'https://agent-core.example', AGENT_CORE_RETURN_URLS: 'https://app.example/back' },
    ],
  ])('with AGENT_CORE_INTERNAL_TOKEN set, refuses to boot without %s, naming it', async (variable, env) => {
    service = startService({
      DATABASE_PATH: join(dir, 'agent-core.sqlite'),
      AGENT_CORE_INTERNAL_TOKEN: 'a-internal-token-of-at-least-32-characters',
      ATLASSIAN_CLIENT_ID: undefined,
      ATLASSIAN_CLIENT_SECRET: undefined,
      AGENT_CORE_PUBLIC_URL: undefined,
      AGENT_CORE_RETURN_URLS: undefined,
      ...env,
    });

    await expect(service.exited).resolves.toBe(1);
    expect(service.output()).toMatch(new RegExp(`Boot failed: ${variable} is not set`));
  });

  it.each([
    ['a port out of range', { PORT: '70000' }, 'PORT must be a whole number from 0 to 65535'],
    // Finding 6 of issue #24: weak configuration was accepted.
    [
      'an internal token of one repeated character',
      { AGENT_CORE_INTERNAL_TOKEN: 'x'.repeat(32) },
      'AGENT_CORE_INTERNAL_TOKEN has too little variety',
    ],
    [
      'an http public URL in production',
      {
        NODE_ENV: 'production',
        OAUTH_STATE_ALLOW_PLAINTEXT: 'true',
        AGENT_CORE_PUBLIC_URL: 'http://agent-core.example',
      },
      'AGENT_CORE_PUBLIC_URL must be an https URL with NODE_ENV=production',
    ],
    [
      'an http return URL in production',
      {
        NODE_ENV: 'production',
        OAUTH_STATE_ALLOW_PLAINTEXT: 'true',
        AGENT_CORE_RETURN_URLS: 'http://app.example/back',
      },
      'AGENT_CORE_RETURN_URLS must list only https URLs with NODE_ENV=production',
    ],
  ] as [string, NodeJS.ProcessEnv, string][])(
    'refuses to boot with %s, naming the variable',
    async (_case, env, message) => {
      service = startService({ DATABASE_PATH: join(dir, 'agent-core.sqlite'), ...env });

      await expect(service.exited).resolves.toBe(1);
      expect(service.output()).toContain(`Boot failed: ${message}`);
      expect(service.output()).not.toContain('x'.repeat(32));
    },
  );
});
