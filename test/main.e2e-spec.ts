import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** Starts src/main.ts as the service would run, on its own database file. */
function startService(databasePath: string): { child: ChildProcess; output: () => string; running: Promise<void> } {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_PATH: databasePath, NO_COLOR: '1' };
  delete env.NODE_ENV;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], { cwd: ROOT, env });
  let text = '';
  const running = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (text.includes('agent-core is running')) {
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`service exited early with ${code}: ${text}`)));
  });
  return { child, output: () => text, running };
}

const exitCode = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => child.once('exit', (code) => resolve(code)));

describe('the service process (src/main.ts)', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-main-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('creates its database, logs it, and exits 0 on %s', async (signal) => {
    const databasePath = join(dir, 'missing-folder', 'agent-core.sqlite');
    const service = startService(databasePath);

    await service.running;
    expect(service.output()).toContain(`Database ${databasePath} holds 0 Atlassian OAuth state(s)`);
    expect(existsSync(databasePath)).toBe(true);

    const exited = exitCode(service.child);
    service.child.kill(signal);
    await expect(exited).resolves.toBe(0);
    expect(service.output()).toContain(`${signal} received: closing the database`);
  });
});
