import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseConnectionError } from '../src/database/database.errors';
import { bootError } from './support/boot';
import { freePort } from './support/free-port';

const ROOT = join(__dirname, '..');
const PASSWORD = 'S3cret-Pw-that-must-not-leak';

/** Runs src/main.ts as the service would run and resolves with its exit code and everything it printed. */
function runService(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, NO_COLOR: '1' };
  delete childEnv.NODE_ENV;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: childEnv,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // A service that boots when it should have failed runs until killed: the test then fails on its exit code.
  const killer = setTimeout(() => child.kill(), 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    }),
  );
}

/** The lines of `output` that report an error or belong to a stack trace. */
const failureLines = (output: string): string[] =>
  output.split('\n').filter((line) => / ERROR |Error[:\s]|^\s+at |^\s*[{}]/.test(line));

// No server needed: these run on every `npm test`.
describe.each([
  ['PostgreSQL', 'postgres'],
  ['MariaDB/MySQL', 'mysql'],
])('booting against an unreachable %s server', (engine, scheme) => {
  it('fails with a DatabaseConnectionError naming host and port, never the password', async () => {
    const port = await freePort();
    const error = await bootError(`${scheme}://agent:${PASSWORD}@127.0.0.1:${port}/agent_core`);

    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error).toMatchObject({ name: 'DatabaseConnectionError', address: `127.0.0.1:${port}` });
    expect(error.message).toContain(
      `Cannot connect to ${engine} at 127.0.0.1:${port} (database "agent_core", user "agent")`,
    );
    expect(error.message).toContain('ECONNREFUSED');
    expect(`${error.message}\n${error.stack ?? ''}`).not.toContain(PASSWORD);
  });

  it('makes the service process exit 1 with that message, and no password anywhere in its output', async () => {
    const port = await freePort();
    const { code, output } = await runService({
      DATABASE_URL: `${scheme}://agent:${PASSWORD}@127.0.0.1:${port}/agent_core`,
      DATABASE_CONNECT_RETRY_MS: '0',
    });

    expect(code).toBe(1);
    expect(failureLines(output)).toEqual([
      expect.stringContaining(`Boot failed: Cannot connect to ${engine} at 127.0.0.1:${port}`),
    ]);
    expect(output).not.toContain(PASSWORD);
  });

  it('adds the stack to that one report with LOG_LEVEL=debug, still without the password', async () => {
    const port = await freePort();
    const { code, output } = await runService({
      DATABASE_URL: `${scheme}://agent:${PASSWORD}@127.0.0.1:${port}/agent_core`,
      DATABASE_CONNECT_RETRY_MS: '0',
      LOG_LEVEL: 'debug',
    });

    expect(code).toBe(1);
    expect(output.match(/Boot failed: /g)).toHaveLength(1);
    expect(output).toMatch(/Boot failed: Cannot connect[^\n]*\nDatabaseConnectionError: [^\n]*\n +at /);
    expect(output).not.toContain(PASSWORD);
  });

  it('keeps trying for DATABASE_CONNECT_RETRY_MS with one line per attempt, then fails with the same error', async () => {
    const port = await freePort();
    const { code, output } = await runService({
      DATABASE_URL: `${scheme}://agent:${PASSWORD}@127.0.0.1:${port}/agent_core`,
      DATABASE_CONNECT_RETRY_MS: '2000',
    });

    // Pauses of 0.5, 1 and then what is left of the 2 s: three attempts retried, the fourth fails the boot.
    const retries = output
      .split('\n')
      .filter((line) => line.includes(`Cannot connect to ${engine} at 127.0.0.1:${port} yet`));
    expect(retries).toHaveLength(3);
    expect(retries[0]).toContain('(attempt 1: ECONNREFUSED); trying again in 0.5 s, for up to 2 s in all');
    expect(code).toBe(1);
    expect(output).toContain(`Boot failed: Cannot connect to ${engine} at 127.0.0.1:${port}`);
    expect(output).not.toContain(PASSWORD);
  });
});

describe('a boot failure of the service process', () => {
  it('is one line for a configuration error: no stack, no second report from Nest', async () => {
    const { code, output } = await runService({ DATABASE_PATH: ':memory:', OAUTH_STATE_ENCRYPTION_KEYS: 'not-a-key' });

    expect(code).toBe(1);
    expect(failureLines(output)).toEqual([
      expect.stringMatching(
        /ERROR \[agent-core\] Boot failed: OAUTH_STATE_ENCRYPTION_KEYS entry #1 is not of the form/,
      ),
    ]);
  });

  it('names LOG_LEVEL when it is neither log nor debug', async () => {
    const { code, output } = await runService({ DATABASE_PATH: ':memory:', LOG_LEVEL: 'chatty' });

    expect(code).toBe(1);
    expect(failureLines(output)).toEqual([
      expect.stringContaining('Boot failed: Invalid logging configuration: LOG_LEVEL must be log or debug.'),
    ]);
  });
});
