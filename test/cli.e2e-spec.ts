import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..');

/** What one CLI process did. */
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The CLI is compiled once, from the current sources, into a temporary folder (the same
 * `tsconfig.build.json` as `npm run build`), so the suite never runs a stale `dist/` and works
 * whether or not `npm run build` ran before `npm test`. NODE_PATH lets it find the project's
 * node_modules from there.
 */
let build: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  build = mkdtempSync(join(tmpdir(), 'agent-core-cli-build-'));
  await promisify(execFile)(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', build], { cwd: ROOT });
  env = { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), NO_COLOR: '1', PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
  delete env.NODE_ENV;
}, 180_000);

afterAll(() => {
  rmSync(build, { recursive: true, force: true });
});

/** Runs the built CLI as its own OS process, like `agent-core <args>`, on the given database. */
function cli(databasePath: string, args: string[], input?: string, command: string[] = [process.execPath, join(build, 'cli', 'main.js')]): Promise<Run> {
  const [file = '', ...prefix] = command;
  const child = spawn(file, [...prefix, ...args], { env: { ...env, DATABASE_PATH: databasePath }, cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The one clear error line every failing command prints. */
const oneLine = (prefix: string | RegExp): RegExp => new RegExp(`^agent-core: ${typeof prefix === 'string' ? prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : prefix.source}[^\\n]*\\n$`);

const ACCESS = 'access-SECRET-4f2a9c';
const REFRESH = 'refresh-SECRET-b71e03';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('the agent-core CLI (built, as a process)', () => {
  let dir: string;
  let db: string;
  const run = (args: string[], input?: string): Promise<Run> => cli(db, args, input);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-cli-'));
    db = join(dir, 'agent-core.sqlite');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a state with put, then shows it with get: redacted, then revealed', async () => {
    const put = await run(['put', 'jira', 'tenant-a', '--refresh-token', REFRESH, '--access-token', ACCESS, '--expires-in', '2520']);
    expect(put).toEqual({ code: 0, stdout: expect.stringMatching(/^stored jira {2}tenant-a {2}access token present {2}expires in 42m {2}updated \S+Z\n$/), stderr: '' });

    const redacted = await run(['get', 'jira', 'tenant-a']);
    expect(redacted).toMatchObject({ code: 0, stderr: '' });
    expect(redacted.stdout).toMatch(/^accessToken: +\[redacted\]$/m);
    expect(redacted.stdout).toMatch(/^refreshToken: +\[redacted\]$/m);
    expect(redacted.stdout).toMatch(/^expiresAt: +\S+Z \(expires in 42m\)$/m);
    expect(redacted.stdout).not.toContain('SECRET');

    const revealed = await run(['get', 'jira', 'tenant-a', '--reveal']);
    expect(revealed.stdout).toMatch(new RegExp(`^accessToken: +${ACCESS}$`, 'm'));
    expect(revealed.stdout).toMatch(new RegExp(`^refreshToken: +${REFRESH}$`, 'm'));

    const json = await run(['get', 'jira', 'tenant-a', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      id: expect.any(String),
      platform: 'jira',
      tenantId: 'tenant-a',
      accessToken: '[redacted]',
      refreshToken: '[redacted]',
      expiresAt: expect.stringMatching(/Z$/),
      expired: false,
      expiry: 'expires in 42m',
      updatedAt: expect.stringMatching(/Z$/),
    });
    const revealedJson = await run(['get', 'jira', 'tenant-a', '--json', '--reveal']);
    expect(JSON.parse(revealedJson.stdout)).toMatchObject({ accessToken: ACCESS, refreshToken: REFRESH });
  });

  it('lists one line per state with the expiry wording, in text and JSON, never a token', async () => {
    const threeHoursAgo = new Date(Date.now() - 3 * HOUR).toISOString();
    await expect(run(['put', 'jira', 'tenant-b', '--refresh-token', REFRESH, '--access-token', ACCESS, '--expires-in', '2520'])).resolves.toMatchObject({ code: 0 });
    await expect(run(['put', 'jira', 'tenant-a', '--refresh-token', REFRESH, '--access-token', ACCESS, '--expires-at', threeHoursAgo])).resolves.toMatchObject({ code: 0 });
    await expect(run(['put', 'confluence', 'tenant-a', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });

    const text = await run(['list']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^confluence +tenant-a +no access token +no expiry +updated \S+Z$/);
    expect(lines[1]).toMatch(/^jira +tenant-a +access token present +expired 3h ago +updated \S+Z$/);
    expect(lines[2]).toMatch(/^jira +tenant-b +access token present +expires in 42m +updated \S+Z$/);

    const json = await run(['list', '--json']);
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(listed).toEqual([
      { platform: 'confluence', tenantId: 'tenant-a', hasAccessToken: false, expiresAt: null, expired: null, expiry: 'no expiry', updatedAt: expect.any(String) },
      { platform: 'jira', tenantId: 'tenant-a', hasAccessToken: true, expiresAt: threeHoursAgo, expired: true, expiry: 'expired 3h ago', updatedAt: expect.any(String) },
      { platform: 'jira', tenantId: 'tenant-b', hasAccessToken: true, expiresAt: expect.any(String), expired: false, expiry: 'expires in 42m', updatedAt: expect.any(String) },
    ]);

    const jira = await run(['list', '--platform', 'jira', '--json']);
    expect((JSON.parse(jira.stdout) as { tenantId: string }[]).map((s) => s.tenantId)).toEqual(['tenant-a', 'tenant-b']);

    for (const output of [text, json, jira]) {
      expect(output.stdout + output.stderr).not.toContain('SECRET');
    }
  });

  it('reads a value given as - from stdin, dropping the trailing line break only', async () => {
    await expect(run(['put', 'jira', 'tenant-a', '--refresh-token', '-', '--access-token', ACCESS], `${REFRESH}\n`)).resolves.toMatchObject({ code: 0, stderr: '' });
    await expect(run(['put', 'jira', 'tenant-b', '--refresh-token', REFRESH, '--access-token', '-'], ` ${ACCESS}`)).resolves.toMatchObject({ code: 0, stderr: '' });

    const a = JSON.parse((await run(['get', 'jira', 'tenant-a', '--json', '--reveal'])).stdout) as Record<string, unknown>;
    const b = JSON.parse((await run(['get', 'jira', 'tenant-b', '--json', '--reveal'])).stdout) as Record<string, unknown>;
    expect(a).toMatchObject({ refreshToken: REFRESH, accessToken: ACCESS });
    expect(b).toMatchObject({ refreshToken: REFRESH, accessToken: ` ${ACCESS}` });
  });

  it('writes conditionally with --expect-refresh-token and --expect-none, exiting 1 on a conflict that wrote nothing', async () => {
    const first = 'refresh-SECRET-first';
    const second = 'refresh-SECRET-second';
    const late = 'refresh-SECRET-late';
    await expect(run(['put', 'jira', 't', '--refresh-token', first, '--expect-none'])).resolves.toMatchObject({ code: 0 });
    await expect(run(['put', 'jira', 't', '--refresh-token', second, '--expect-refresh-token', '-'], `${first}\n`)).resolves.toMatchObject({ code: 0, stderr: '' });

    const stale = await run(['put', 'jira', 't', '--refresh-token', late, '--access-token', ACCESS, '--expect-refresh-token', first]);
    expect(stale).toEqual({ code: 1, stdout: '', stderr: expect.stringMatching(oneLine(/conflict: the stored state of jira\/t \(updated \S+Z\) is not the expected one; nothing was written/)) });
    const taken = await run(['put', 'jira', 't', '--refresh-token', late, '--expect-none']);
    expect(taken).toEqual({ code: 1, stdout: '', stderr: expect.stringMatching(oneLine('conflict: the stored state of jira/t')) });
    const absent = await run(['put', 'jira', 'nobody', '--refresh-token', late, '--expect-refresh-token', first]);
    expect(absent).toEqual({ code: 1, stdout: '', stderr: 'agent-core: conflict: nothing is stored for jira/nobody; nothing was written\n' });
    for (const output of [stale, taken, absent]) {
      expect(output.stderr).not.toContain('SECRET');
    }

    const stored = JSON.parse((await run(['get', 'jira', 't', '--json', '--reveal'])).stdout) as Record<string, unknown>;
    expect(stored).toMatchObject({ refreshToken: second, accessToken: null });
    await expect(run(['list', '--json'])).resolves.toMatchObject({ stdout: expect.not.stringContaining('nobody') });
  });

  it('deletes a state, and exits 1 when there is none to delete', async () => {
    await expect(run(['put', 'jira', 't', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });
    await expect(run(['put', 'jira', 'other', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });

    await expect(run(['delete', 'jira', 't'])).resolves.toEqual({ code: 0, stdout: 'deleted jira/t\n', stderr: '' });
    await expect(run(['delete', 'jira', 't'])).resolves.toEqual({ code: 1, stdout: '', stderr: 'agent-core: no state stored for jira/t; nothing deleted\n' });
    await expect(run(['get', 'jira', 't'])).resolves.toMatchObject({ code: 1 });
    const listed = JSON.parse((await run(['list', '--json'])).stdout) as { tenantId: string }[];
    expect(listed.map((s) => s.tenantId)).toEqual(['other']);
  });

  it('shows help with exit 0 for the program and every command', async () => {
    const commands = ['list', 'get', 'put', 'delete'];
    const runs = await Promise.all([run(['--help']), ...commands.map((command) => run([command, '--help']))]);

    expect(runs[0]).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: agent-core [options] [command]'), stderr: '' });
    expect(runs[0]?.stdout).toMatch(/Exit codes: 0 done, 1 not found or conflict, 2 usage or bad input, 3 database or key problem/);
    commands.forEach((command, i) => expect(runs[i + 1]).toMatchObject({ code: 0, stdout: expect.stringContaining(`Usage: agent-core ${command} [options]`), stderr: '' }));
  });

  describe('exit codes, each with one line on stderr and no token in it', () => {
    it('1: nothing stored for the key', async () => {
      await expect(run(['put', 'jira', 'tenant-a', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });

      await expect(run(['get', 'jira', 'tenant-b'])).resolves.toEqual({ code: 1, stdout: '', stderr: 'agent-core: no state stored for jira/tenant-b\n' });
    });

    describe('2: usage and bad input, on one stored state', () => {
      let usageDir: string;
      let usageDb: string;
      let usageBefore: string;

      beforeAll(async () => {
        usageDir = mkdtempSync(join(tmpdir(), 'agent-core-cli-usage-'));
        usageDb = join(usageDir, 'agent-core.sqlite');
        await expect(cli(usageDb, ['put', 'jira', 't', '--refresh-token', 'refresh-before', '--expires-in', '600'])).resolves.toMatchObject({ code: 0 });
        usageBefore = (await cli(usageDb, ['get', 'jira', 't', '--json', '--reveal'])).stdout;
        expect(usageBefore).toContain('refresh-before');
      });

      afterAll(() => {
        rmSync(usageDir, { recursive: true, force: true });
      });

      it.each([
        ['no command', [], oneLine('missing command')],
        ['an unknown command', ['frobnicate'], oneLine("unknown command 'frobnicate'")],
        ['an unknown option', ['list', '--colour'], oneLine("unknown option '--colour'")],
        ['a missing argument', ['get', 'jira'], oneLine("missing required argument 'tenantId'")],
        ['a missing --refresh-token', ['put', 'jira', 't', '--access-token', ACCESS], oneLine("required option '--refresh-token <value>' not specified")],
        ['a blank tenantId', ['put', 'jira', ' ', '--refresh-token', REFRESH], oneLine('Invalid Atlassian OAuth state: tenantId must be a non-blank string.')],
        ['an over-long platform', ['get', 'p'.repeat(256), 't'], oneLine('Invalid Atlassian OAuth state: platform must be at most 255 characters.')],
        ['an --expires-at without a time zone', ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-at', '2026-11-27T20:00:00'], oneLine('--expires-at must be an ISO 8601 date-time')],
        ['an --expires-at that is no date', ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-at', '2026-13-45T20:00:00Z'], oneLine('--expires-at must be an ISO 8601 date-time')],
        ['an --expires-in that is no number', ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-in', '1h'], oneLine('--expires-in must be a whole number of seconds')],
        ['both --expires-at and --expires-in', ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-in', '60', '--expires-at', '2026-11-27T20:00:00Z'], oneLine(/option '--expires-\w+ <\w+>' cannot be used with option '--expires-\w+ <\w+>'/)],
        ['two values from stdin', ['put', 'jira', 't', '--refresh-token', '-', '--access-token', '-'], oneLine('only one option can read its value from stdin')],
        ['both --expect-refresh-token and --expect-none', ['put', 'jira', 't', '--refresh-token', REFRESH, '--expect-none', '--expect-refresh-token', 'refresh-before'], oneLine(/option '--expect-[\w-]+( <value>)?' cannot be used with option '--expect-[\w-]+( <value>)?'/)],
        ['a blank tenantId to delete', ['delete', 'jira', ''], oneLine('Invalid Atlassian OAuth state: tenantId must be a non-blank string.')],
        ['an empty refresh token from stdin', ['put', 'jira', 't', '--refresh-token', '-', '--access-token', ACCESS], oneLine('Invalid Atlassian OAuth state: refreshToken must be a non-empty string.')],
      ])('2: %s', async (_case, args, stderr) => {
        const result = await cli(usageDb, args, '\n');

        expect(result).toEqual({ code: 2, stdout: '', stderr: expect.stringMatching(stderr) });
        expect(result.stderr).not.toContain('SECRET');
      });

      it('2: leaves the stored state as it was after all of the bad commands above', async () => {
        await expect(cli(usageDb, ['get', 'jira', 't', '--json', '--reveal'])).resolves.toMatchObject({ code: 0, stdout: usageBefore });
      });
    });

    it('3: the database file is not a database, and no token leaks from the failed put', async () => {
      writeFileSync(db, 'this is not an SQLite database, but it is long enough to have a header '.repeat(4));

      for (const args of [['list'], ['put', 'jira', 't', '--refresh-token', REFRESH, '--access-token', ACCESS]]) {
        const result = await run(args);
        expect(result).toEqual({ code: 3, stdout: '', stderr: expect.stringMatching(oneLine(`cannot open the database ${db}: `)) });
        expect(result.stderr).not.toContain('SECRET');
      }
    });

    it('3: the database folder cannot be created', async () => {
      writeFileSync(join(dir, 'a-file'), '');
      db = join(dir, 'a-file', 'sub', 'agent-core.sqlite');

      await expect(run(['put', 'jira', 't', '--refresh-token', REFRESH])).resolves.toEqual({ code: 3, stdout: '', stderr: expect.stringMatching(oneLine(`cannot open the database ${db}: ENOTDIR`)) });
    });

    it('3: a read on a database file that does not exist, which it does not create', async () => {
      const result = await run(['list']);

      expect(result).toEqual({ code: 3, stdout: '', stderr: `agent-core: no database at ${db}: set DATABASE_PATH to the service's database file\n` });
      await expect(run(['get', 'jira', 't'])).resolves.toMatchObject({ code: 3 });
      expect(() => readFileSync(db)).toThrow(/ENOENT/);
    });
  });

  it('is the package bin: a built file with a shebang that runs on its own', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin).toEqual({ 'agent-core': 'dist/cli/main.js' });
    expect(pkg.scripts.cli).toBe('node dist/cli/main.js');

    const main = join(build, 'cli', 'main.js');
    expect(readFileSync(main, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    chmodSync(main, 0o755);
    await expect(cli(db, ['put', 'jira', 't', '--refresh-token', REFRESH], undefined, [main])).resolves.toMatchObject({ code: 0, stderr: '' });
  });
});
