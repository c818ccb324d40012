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

  it('refuses to boot with an invalid HTTP setting, naming the variable', async () => {
    service = startService({ DATABASE_PATH: join(dir, 'agent-core.sqlite'), PORT: '70000' });

    await expect(service.exited).resolves.toBe(1);
    expect(service.output()).toContain('Boot failed: PORT must be a whole number from 0 to 65535');
  });
});
