import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessRun, runCliInProcess } from './support/run-cli-in-process';

/** Runs `agent-core health` in this process on the given environment. */
function health(env: NodeJS.ProcessEnv): Promise<InProcessRun> {
  return runCliInProcess(['health'], env);
}

describe('agent-core health', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-health-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 with one line when the SQLite database answers', async () => {
    const path = join(dir, 'agent-core.sqlite');
    // A file of zero bytes is an empty SQLite database.
    writeFileSync(path, '');
    const run = await health({ DATABASE_PATH: path });
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('exits 1 when the SQLite file does not exist, and does not create it', async () => {
    const path = join(dir, 'missing.sqlite');
    const run = await health({ DATABASE_PATH: path });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(path);
    expect(existsSync(path)).toBe(false);
  });

  it('exits 1 with one line, without the password, when the server does not answer', async () => {
    // Port 1 on the loopback: nothing listens there.
    const run = await health({ DATABASE_URL: 'postgres://agent:SECRET-PW-77@127.0.0.1:1/test' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stdout + run.stderr).not.toContain('SECRET-PW-77');
  });

  it('exits 1, not another code, when the configuration cannot reach any database', async () => {
    const run = await health({ DATABASE_URL: 'ftp://agent:SECRET-PW-78@127.0.0.1/test' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DATABASE_URL/);
    expect(run.stdout + run.stderr).not.toContain('SECRET-PW-78');
  });
});
