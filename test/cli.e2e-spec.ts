import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { AtlassianOauthStateRepo } from '../src/atlassian';
import { runCli } from '../src/cli/cli';
import { openFileDatabase } from './support/file-database';

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
  await promisify(execFile)(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', build],
    { cwd: ROOT },
  );
  env = {
    ...process.env,
    NODE_PATH: join(ROOT, 'node_modules'),
    NO_COLOR: '1',
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  };
  delete env.NODE_ENV;
}, 180_000);

afterAll(() => {
  rmSync(build, { recursive: true, force: true });
});

/** How to run the CLI: stdin, more environment, and the command (default: node on the built main.js). */
interface CliOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  command?: string[];
}

/** Runs the built CLI as its own OS process, like `agent-core <args>`, on the given database. */
function cli(databasePath: string, args: string[], options: CliOptions = {}): Promise<Run> {
  const { input, command = [process.execPath, join(build, 'cli', 'main.js')] } = options;
  const [file = '', ...prefix] = command;
  const child = spawn(file, [...prefix, ...args], {
    env: { ...env, ...options.env, DATABASE_PATH: databasePath },
    cwd: ROOT,
  });
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
const oneLine = (prefix: string | RegExp): RegExp =>
  new RegExp(
    `^agent-core: ${typeof prefix === 'string' ? prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : prefix.source}[^\\n]*\\n$`,
  );

const ACCESS = 'access-SECRET-4f2a9c';
const REFRESH = 'refresh-SECRET-b71e03';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('the agent-core CLI (built, as a process)', () => {
  let dir: string;
  let db: string;
  const run = (args: string[], input?: string, extraEnv?: NodeJS.ProcessEnv): Promise<Run> =>
    cli(db, args, { input, env: extraEnv });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-cli-'));
    db = join(dir, 'agent-core.sqlite');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a state with put, then shows it with get: redacted, then revealed', async () => {
    const put = await run([
      'put',
      'jira',
      'tenant-a',
      '--refresh-token',
      REFRESH,
      '--access-token',
      ACCESS,
      '--expires-in',
      '2520',
    ]);
    expect(put).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        /^stored jira {2}tenant-a {2}access token present {2}expires in 42m {2}updated \S+Z\n$/,
      ),
      stderr: '',
    });

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
    await expect(
      run(['put', 'jira', 'tenant-b', '--refresh-token', REFRESH, '--access-token', ACCESS, '--expires-in', '2520']),
    ).resolves.toMatchObject({ code: 0 });
    await expect(
      run([
        'put',
        'jira',
        'tenant-a',
        '--refresh-token',
        REFRESH,
        '--access-token',
        ACCESS,
        '--expires-at',
        threeHoursAgo,
      ]),
    ).resolves.toMatchObject({ code: 0 });
    await expect(run(['put', 'confluence', 'tenant-a', '--refresh-token', REFRESH])).resolves.toMatchObject({
      code: 0,
    });

    const text = await run(['list']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^confluence +tenant-a +no access token +no expiry +updated \S+Z {2}0 sites {2}ok$/);
    expect(lines[1]).toMatch(/^jira +tenant-a +access token present +expired 3h ago +updated \S+Z {2}0 sites {2}ok$/);
    expect(lines[2]).toMatch(/^jira +tenant-b +access token present +expires in 42m +updated \S+Z {2}0 sites {2}ok$/);

    const json = await run(['list', '--json']);
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(listed).toEqual([
      {
        platform: 'confluence',
        tenantId: 'tenant-a',
        hasAccessToken: false,
        expiresAt: null,
        expired: null,
        expiry: 'no expiry',
        updatedAt: expect.any(String),
        sites: 0,
        health: { status: 'ok', text: 'ok' },
      },
      {
        platform: 'jira',
        tenantId: 'tenant-a',
        hasAccessToken: true,
        expiresAt: threeHoursAgo,
        expired: true,
        expiry: 'expired 3h ago',
        updatedAt: expect.any(String),
        sites: 0,
        health: { status: 'ok', text: 'ok' },
      },
      {
        platform: 'jira',
        tenantId: 'tenant-b',
        hasAccessToken: true,
        expiresAt: expect.any(String),
        expired: false,
        expiry: 'expires in 42m',
        updatedAt: expect.any(String),
        sites: 0,
        health: { status: 'ok', text: 'ok' },
      },
    ]);

    const jira = await run(['list', '--platform', 'jira', '--json']);
    expect((JSON.parse(jira.stdout) as { tenantId: string }[]).map((s) => s.tenantId)).toEqual([
      'tenant-a',
      'tenant-b',
    ]);

    for (const output of [text, json, jira]) {
      expect(output.stdout + output.stderr).not.toContain('SECRET');
    }
  });

  it('keeps stdout to the results with DATABASE_LOGGING=true: the query log goes to stderr, --json parses', async () => {
    const logging = { DATABASE_LOGGING: 'true' };
    await expect(
      run(['put', 'jira', 'tenant-a', '--refresh-token', REFRESH, '--access-token', ACCESS], undefined, logging),
    ).resolves.toMatchObject({ code: 0, stdout: expect.stringMatching(/^stored jira {2}tenant-a .*\n$/) });

    const list = await run(['list', '--json'], undefined, logging);
    const get = await run(['get', 'jira', 'tenant-a', '--json', '--reveal'], undefined, logging);

    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ platform: 'jira', tenantId: 'tenant-a' })]);
    expect(JSON.parse(get.stdout)).toMatchObject({ accessToken: ACCESS, refreshToken: REFRESH });
    for (const output of [list, get]) {
      expect(output.stderr).toMatch(/query: SELECT .*atlassian_oauth_state/);
      expect(output.stderr).not.toContain('SECRET');
    }
  });

  it('reads a value given as - from stdin, dropping the trailing line break only', async () => {
    await expect(
      run(['put', 'jira', 'tenant-a', '--refresh-token', '-', '--access-token', ACCESS], `${REFRESH}\n`),
    ).resolves.toMatchObject({ code: 0, stderr: '' });
    await expect(
      run(['put', 'jira', 'tenant-b', '--refresh-token', REFRESH, '--access-token', '-'], ` ${ACCESS}`),
    ).resolves.toMatchObject({ code: 0, stderr: '' });

    const a = JSON.parse((await run(['get', 'jira', 'tenant-a', '--json', '--reveal'])).stdout) as Record<
      string,
      unknown
    >;
    const b = JSON.parse((await run(['get', 'jira', 'tenant-b', '--json', '--reveal'])).stdout) as Record<
      string,
      unknown
    >;
    expect(a).toMatchObject({ refreshToken: REFRESH, accessToken: ACCESS });
    expect(b).toMatchObject({ refreshToken: REFRESH, accessToken: ` ${ACCESS}` });
  });

  it('reads every token option from a file given as @path, so a conditional put needs no token on argv', async () => {
    const first = 'refresh-SECRET-file-first';
    const second = 'refresh-SECRET-file-second';
    const files = { first: join(dir, 'first'), second: join(dir, 'second'), access: join(dir, 'access') };
    writeFileSync(files.first, `${first}\n`, { mode: 0o600 });
    writeFileSync(files.second, second, { mode: 0o600 });
    writeFileSync(files.access, `${ACCESS}\n`, { mode: 0o600 });
    const connect = ['put', 'jira', 't', '--refresh-token', `@${files.first}`, '--expect-none'];
    // New refresh token from stdin, access token and the expected refresh token from files.
    const rotate = [
      'put',
      'jira',
      't',
      '--refresh-token',
      '-',
      '--access-token',
      `@${files.access}`,
      '--expect-refresh-token',
      `@${files.first}`,
    ];
    const again = [
      'put',
      'jira',
      't',
      '--refresh-token',
      `@${files.first}`,
      '--expect-refresh-token',
      `@${files.second}`,
    ];
    for (const args of [connect, rotate, again]) {
      expect(args.join(' ')).not.toContain('SECRET');
    }

    await expect(run(connect)).resolves.toMatchObject({ code: 0, stderr: '' });
    await expect(run(rotate, `${second}\n`)).resolves.toMatchObject({ code: 0, stderr: '' });
    await expect(run(again)).resolves.toMatchObject({ code: 0, stderr: '' });

    const stored = JSON.parse((await run(['get', 'jira', 't', '--json', '--reveal'])).stdout) as Record<
      string,
      unknown
    >;
    expect(stored).toMatchObject({ refreshToken: first, accessToken: null });
    const missing = await run(['put', 'jira', 't', '--refresh-token', `@${join(dir, 'absent')}`]);
    expect(missing).toEqual({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(oneLine('--refresh-token: cannot read the file')),
    });
  });

  it('writes conditionally with --expect-refresh-token and --expect-none, exiting 1 on a conflict that wrote nothing', async () => {
    const first = 'refresh-SECRET-first';
    const second = 'refresh-SECRET-second';
    const late = 'refresh-SECRET-late';
    await expect(run(['put', 'jira', 't', '--refresh-token', first, '--expect-none'])).resolves.toMatchObject({
      code: 0,
    });
    await expect(
      run(['put', 'jira', 't', '--refresh-token', second, '--expect-refresh-token', '-'], `${first}\n`),
    ).resolves.toMatchObject({ code: 0, stderr: '' });

    const stale = await run([
      'put',
      'jira',
      't',
      '--refresh-token',
      late,
      '--access-token',
      ACCESS,
      '--expect-refresh-token',
      first,
    ]);
    expect(stale).toEqual({
      code: 1,
      stdout: '',
      stderr: expect.stringMatching(
        oneLine(/conflict: the stored state of jira\/t \(updated \S+Z\) is not the expected one; nothing was written/),
      ),
    });
    const taken = await run(['put', 'jira', 't', '--refresh-token', late, '--expect-none']);
    expect(taken).toEqual({
      code: 1,
      stdout: '',
      stderr: expect.stringMatching(oneLine('conflict: the stored state of jira/t')),
    });
    const absent = await run(['put', 'jira', 'nobody', '--refresh-token', late, '--expect-refresh-token', first]);
    expect(absent).toEqual({
      code: 1,
      stdout: '',
      stderr: 'agent-core: conflict: nothing is stored for jira/nobody; nothing was written\n',
    });
    for (const output of [stale, taken, absent]) {
      expect(output.stderr).not.toContain('SECRET');
    }

    const stored = JSON.parse((await run(['get', 'jira', 't', '--json', '--reveal'])).stdout) as Record<
      string,
      unknown
    >;
    expect(stored).toMatchObject({ refreshToken: second, accessToken: null });
    await expect(run(['list', '--json'])).resolves.toMatchObject({ stdout: expect.not.stringContaining('nobody') });
  });

  it('deletes a state, and exits 1 when there is none to delete', async () => {
    await expect(run(['put', 'jira', 't', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });
    await expect(run(['put', 'jira', 'other', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });

    await expect(run(['delete', 'jira', 't'])).resolves.toEqual({ code: 0, stdout: 'deleted jira/t\n', stderr: '' });
    await expect(run(['delete', 'jira', 't'])).resolves.toEqual({
      code: 1,
      stdout: '',
      stderr: 'agent-core: no state stored for jira/t; nothing deleted\n',
    });
    await expect(run(['get', 'jira', 't'])).resolves.toMatchObject({ code: 1 });
    const listed = JSON.parse((await run(['list', '--json'])).stdout) as { tenantId: string }[];
    expect(listed.map((s) => s.tenantId)).toEqual(['other']);
  });

  it('backup copies the database while the service holds it open with writes in its log, owner-only, and checks the copy', async () => {
    const live = await openFileDatabase('agent-core-cli-backup-');
    try {
      const repo = live.moduleRef.get(AtlassianOauthStateRepo);
      for (const tenant of ['a', 'b', 'c']) {
        await repo.upsert('jira', tenant, { refreshToken: `${REFRESH}-${tenant}` });
      }
      const copy = join(dir, 'backups', 'agent-core-copy.sqlite');

      const backup = await cli(live.path, ['backup', copy]);
      const again = await cli(live.path, ['backup', copy]);
      const listed = await cli(copy, ['list', '--json']);

      expect(backup).toEqual({
        code: 0,
        stdout: expect.stringMatching(
          new RegExp(
            `^backed up ${live.path} to ${copy} \\(\\d+ pages\\)\nok: SQLite database ${copy} passed SQLite's integrity check`,
          ),
        ),
        stderr: '',
      });
      expect(statSync(copy).mode & 0o777).toBe(0o600);
      expect(again).toEqual({
        code: 2,
        stdout: '',
        stderr: `agent-core: ${copy} exists already: a backup never overwrites a file; choose a new name\n`,
      });
      expect((JSON.parse(listed.stdout) as { tenantId: string }[]).map((s) => s.tenantId)).toEqual(['a', 'b', 'c']);
      expect(backup.stdout + listed.stdout).not.toContain(REFRESH);
    } finally {
      await live.close();
    }
  });

  it('backup of a server database exits 2, pointing to its own tool', async () => {
    // DATABASE_PATH empty: unset, so the URL is the only database named.
    const backup = await cli('', ['backup', join(dir, 'copy.sqlite')], {
      env: { DATABASE_URL: 'postgres://agent:SECRET-PW-79@127.0.0.1:1/test' },
    });

    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(/^agent-core: backup copies a SQLite file; .* \(pg_dump, mariadb-dump\)\n$/);
    expect(backup.stderr).not.toContain('SECRET-PW-79');
  });

  it('shows help with exit 0 for the program and every command', async () => {
    const commands = [
      'list',
      'get',
      'put',
      'delete',
      'reencrypt',
      'check',
      'backup',
      'health',
      'keep-alive',
      'connect',
      'sites',
    ];
    const runs = await Promise.all([run(['--help']), ...commands.map((command) => run([command, '--help']))]);

    expect(runs[0]).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('Usage: agent-core [options] [command]'),
      stderr: '',
    });
    expect(runs[0]?.stdout).toMatch(
      /Exit codes: 0 done; 1 not found, conflict, or something needs attention \(check, health: failed; list --unhealthy: listed any; keep-alive: a grant failed or was found revoked\); 2 usage or bad input; 3 database or key problem/,
    );
    commands.forEach((command, i) =>
      expect(runs[i + 1]).toMatchObject({
        code: 0,
        stdout: expect.stringContaining(`Usage: agent-core ${command} [options]`),
        stderr: '',
      }),
    );
  }, 180_000);

  describe('exit codes, each with one line on stderr and no token in it', () => {
    it('1: nothing stored for the key', async () => {
      await expect(run(['put', 'jira', 'tenant-a', '--refresh-token', REFRESH])).resolves.toMatchObject({ code: 0 });

      await expect(run(['get', 'jira', 'tenant-b'])).resolves.toEqual({
        code: 1,
        stdout: '',
        stderr: 'agent-core: no state stored for jira/tenant-b\n',
      });
    });

    describe('2: usage and bad input, on one stored state', () => {
      let usageDir: string;
      let usageDb: string;
      let usageBefore: string;

      beforeAll(async () => {
        usageDir = mkdtempSync(join(tmpdir(), 'agent-core-cli-usage-'));
        usageDb = join(usageDir, 'agent-core.sqlite');
        await expect(
          cli(usageDb, ['put', 'jira', 't', '--refresh-token', 'refresh-before', '--expires-in', '600']),
        ).resolves.toMatchObject({ code: 0 });
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
        [
          'a mistyped token option whose value has a space and quotes',
          ['put', 'jira', 't', "--acess-token='SECRET-PART1 SECRET-PART2'", '--refresh-token', REFRESH],
          /^agent-core: unknown option '--acess-token' \(its value is not shown\) \(see 'agent-core put --help'\)\n$/,
        ],
        ['a missing argument', ['get', 'jira'], oneLine("missing required argument 'tenantId'")],
        [
          'a missing --refresh-token',
          ['put', 'jira', 't', '--access-token', ACCESS],
          oneLine("required option '--refresh-token <value>' not specified"),
        ],
        [
          'a blank tenantId',
          ['put', 'jira', ' ', '--refresh-token', REFRESH],
          oneLine('Invalid Atlassian OAuth state: tenantId must be a non-blank string.'),
        ],
        [
          'an over-long platform',
          ['get', 'p'.repeat(256), 't'],
          oneLine('Invalid Atlassian OAuth state: platform must be at most 255 characters.'),
        ],
        [
          'an --expires-at without a time zone',
          ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-at', '2026-11-27T20:00:00'],
          oneLine('--expires-at must be an ISO 8601 date-time'),
        ],
        [
          'an --expires-at that is no date',
          ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-at', '2026-13-45T20:00:00Z'],
          oneLine('--expires-at must be an ISO 8601 date-time'),
        ],
        [
          'an --expires-in that is no number',
          ['put', 'jira', 't', '--refresh-token', REFRESH, '--expires-in', '1h'],
          oneLine('--expires-in must be a whole number of seconds'),
        ],
        [
          'both --expires-at and --expires-in',
          [
            'put',
            'jira',
            't',
            '--refresh-token',
            REFRESH,
            '--expires-in',
            '60',
            '--expires-at',
            '2026-11-27T20:00:00Z',
          ],
          oneLine(/option '--expires-\w+ <\w+>' cannot be used with option '--expires-\w+ <\w+>'/),
        ],
        [
          'two values from stdin',
          ['put', 'jira', 't', '--refresh-token', '-', '--access-token', '-'],
          oneLine('only one option can read its value from stdin'),
        ],
        [
          'both --expect-refresh-token and --expect-none',
          ['put', 'jira', 't', '--refresh-token', REFRESH, '--expect-none', '--expect-refresh-token', 'refresh-before'],
          oneLine(/option '--expect-[\w-]+( <value>)?' cannot be used with option '--expect-[\w-]+( <value>)?'/),
        ],
        [
          'a --batch-size that is no positive number',
          ['reencrypt', '--batch-size', '0'],
          oneLine('--batch-size must be a positive whole number of rows'),
        ],
        [
          'a blank tenantId to delete',
          ['delete', 'jira', ''],
          oneLine('Invalid Atlassian OAuth state: tenantId must be a non-blank string.'),
        ],
        [
          'an empty refresh token from stdin',
          ['put', 'jira', 't', '--refresh-token', '-', '--access-token', ACCESS],
          oneLine('Invalid Atlassian OAuth state: refreshToken must be a non-empty string.'),
        ],
      ])('2: %s', async (_case, args, stderr) => {
        const result = await cli(usageDb, args, { input: '\n' });

        expect(result).toEqual({ code: 2, stdout: '', stderr: expect.stringMatching(stderr) });
        expect(result.stderr).not.toContain('SECRET');
      });

      it('2: leaves the stored state as it was after all of the bad commands above', async () => {
        // Compared without `expiry`, the wording of the time left, which moves on while the commands run.
        const stored = ({ expiry: _expiry, ...rest }: Record<string, unknown>) => rest;
        const after = await cli(usageDb, ['get', 'jira', 't', '--json', '--reveal']);
        expect(after.code).toBe(0);
        expect(stored(JSON.parse(after.stdout) as Record<string, unknown>)).toEqual(
          stored(JSON.parse(usageBefore) as Record<string, unknown>),
        );
      });
    });

    it('3: the database file is not a database, and no token leaks from the failed put', async () => {
      writeFileSync(db, 'this is not an SQLite database, but it is long enough to have a header '.repeat(4));

      for (const args of [['list'], ['put', 'jira', 't', '--refresh-token', REFRESH, '--access-token', ACCESS]]) {
        const result = await run(args);
        expect(result).toEqual({
          code: 3,
          stdout: '',
          stderr: expect.stringMatching(oneLine(`cannot open the database ${db}: `)),
        });
        expect(result.stderr).not.toContain('SECRET');
      }
    });

    it('3: the database folder cannot be created', async () => {
      writeFileSync(join(dir, 'a-file'), '');
      db = join(dir, 'a-file', 'sub', 'agent-core.sqlite');

      await expect(run(['put', 'jira', 't', '--refresh-token', REFRESH])).resolves.toEqual({
        code: 3,
        stdout: '',
        stderr: expect.stringMatching(oneLine(`cannot open the database ${db}: ENOTDIR`)),
      });
    });

    it('3: a read on a database file that does not exist, which it does not create', async () => {
      const result = await run(['list']);

      expect(result).toEqual({
        code: 3,
        stdout: '',
        stderr: `agent-core: no database at ${db}: set DATABASE_PATH to the service's database file\n`,
      });
      await expect(run(['get', 'jira', 't'])).resolves.toMatchObject({ code: 3 });
      expect(() => readFileSync(db)).toThrow(/ENOENT/);
    });
  });

  describe('reencrypt', () => {
    const newKey = (id: string): string => `${id}:${randomBytes(32).toString('base64')}`;
    const keys = (ring: string): NodeJS.ProcessEnv => ({ OAUTH_STATE_ENCRYPTION_KEYS: ring });

    it('seals plaintext rows, moves them to a new key with plain progress lines off a terminal, and re-runs as a no-op', async () => {
      for (const tenant of ['a', 'b', 'c']) {
        await expect(
          run(['put', 'jira', tenant, '--refresh-token', `${REFRESH}-${tenant}`, '--access-token', ACCESS]),
        ).resolves.toMatchObject({ code: 0 });
      }
      const k1 = newKey('k1');
      const k2 = newKey('k2');

      // Without the migration setting a plaintext row is refused as tampered with, and left as it is.
      await expect(run(['reencrypt'], undefined, keys(k1))).resolves.toMatchObject({
        code: 3,
        stdout: expect.stringMatching(
          /\nreencrypt done: sealed 0, legacy plaintext sealed 0, already current 0, failed 3\n$/,
        ),
      });
      const migrating = { ...keys(k1), OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: 'true' };
      await expect(run(['reencrypt', '--batch-size', '2'], undefined, migrating)).resolves.toEqual({
        code: 0,
        stdout:
          '2/3 rows (sealed 0, legacy plaintext sealed 2, already current 0, failed 0)\n' +
          '3/3 rows (sealed 0, legacy plaintext sealed 3, already current 0, failed 0)\n' +
          'reencrypt done: sealed 0, legacy plaintext sealed 3, already current 0, failed 0\n',
        stderr: '',
      });
      await expect(run(['reencrypt'], undefined, keys(k1))).resolves.toMatchObject({
        code: 0,
        stdout: expect.stringMatching(
          /\nreencrypt done: sealed 0, legacy plaintext sealed 0, already current 3, failed 0\n$/,
        ),
      });
      await expect(run(['reencrypt'], undefined, keys(`${k2},${k1}`))).resolves.toMatchObject({
        code: 0,
        stdout: expect.stringMatching(
          /\nreencrypt done: sealed 3, legacy plaintext sealed 0, already current 0, failed 0\n$/,
        ),
      });

      const read = await run(['get', 'jira', 'b', '--json', '--reveal'], undefined, keys(k2));
      expect(JSON.parse(read.stdout)).toMatchObject({ refreshToken: `${REFRESH}-b`, accessToken: ACCESS });
    });

    it('3: no keys, a malformed key, a row under a key no longer configured: one line, no token and no key', async () => {
      const k1 = newKey('k1');
      const k2 = newKey('k2');
      const badKeyMaterial = Buffer.from('sixteen byte key').toString('base64');
      await expect(
        run(['put', 'jira', 't', '--refresh-token', REFRESH, '--access-token', ACCESS], undefined, keys(k1)),
      ).resolves.toMatchObject({ code: 0 });

      const noKeys = await run(['reencrypt']);
      const malformed = await run(['list'], undefined, keys(`k1:${badKeyMaterial}`));
      const unknownKey = await run(['get', 'jira', 't', '--reveal'], undefined, keys(k2));
      const leftAsItWas = await run(['reencrypt'], undefined, keys(k2));

      expect(noKeys).toEqual({
        code: 3,
        stdout: '',
        stderr: expect.stringMatching(oneLine('reencryptAll needs OAUTH_STATE_ENCRYPTION_KEYS')),
      });
      expect(malformed).toEqual({
        code: 3,
        stdout: '',
        stderr: expect.stringMatching(oneLine('OAUTH_STATE_ENCRYPTION_KEYS key "k1" is 16 bytes')),
      });
      expect(unknownKey).toEqual({
        code: 3,
        stdout: '',
        stderr: expect.stringMatching(
          oneLine(/Cannot decrypt the stored \w+ of \("jira", "t"\): it is sealed with key id "k1"/),
        ),
      });
      expect(leftAsItWas).toEqual({
        code: 3,
        stdout: expect.stringMatching(
          /^1\/1 rows \(sealed 0, legacy plaintext sealed 0, already current 0, failed 1\)\nfailed: [^\n]*\("jira", "t"\)[^\n]*\nreencrypt done: sealed 0, legacy plaintext sealed 0, already current 0, failed 1\n$/,
        ),
        stderr:
          'agent-core: 1 row(s) could not be re-encrypted and were left as they were (a key problem, listed above)\n',
      });
      for (const output of [noKeys, malformed, unknownKey, leftAsItWas]) {
        expect(output.stdout + output.stderr).not.toContain('SECRET');
        for (const secret of [badKeyMaterial, k1.slice(3), k2.slice(3)]) {
          expect(output.stdout + output.stderr).not.toContain(secret);
        }
      }
    });
  });

  it('is the package bin: a built file with a shebang that runs on its own', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.bin).toEqual({ 'agent-core': 'dist/cli/main.js' });
    expect(pkg.scripts.cli).toBe('node dist/cli/main.js');

    const main = join(build, 'cli', 'main.js');
    expect(readFileSync(main, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    chmodSync(main, 0o755);
    await expect(cli(db, ['put', 'jira', 't', '--refresh-token', REFRESH], { command: [main] })).resolves.toMatchObject(
      { code: 0, stderr: '' },
    );
  });
});

describe('reencrypt on a terminal (runCli in this process, its stdout a TTY)', () => {
  let dir: string;
  /** The environment runCli reads its configuration from (not this process's). */
  let env: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-cli-tty-'));
    env = { DATABASE_PATH: join(dir, 'agent-core.sqlite') };
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one command with a terminal-like stdout, and resolves with its exit code and output. */
  async function onTerminal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = Object.assign(new PassThrough(), { isTTY: true });
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await runCli(args, { stdout, stderr, stdin: Readable.from([]), env, now: () => new Date() });
    return { code, stdout: out, stderr: err };
  }

  it('redraws one progress bar in place, then ends the line and prints the summary', async () => {
    for (const tenant of ['a', 'b', 'c']) {
      await expect(
        onTerminal(['put', 'jira', tenant, '--refresh-token', `${REFRESH}-${tenant}`]),
      ).resolves.toMatchObject({ code: 0 });
    }
    env.OAUTH_STATE_ENCRYPTION_KEYS = `k1:${randomBytes(32).toString('base64')}`;
    env.OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS = 'true';

    const result = await onTerminal(['reencrypt', '--batch-size', '1']);

    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `\r[${'#'.repeat(10)}${'-'.repeat(20)}]  33% 1/3 rows (sealed 0, legacy plaintext sealed 1, already current 0, failed 0)` +
        `\r[${'#'.repeat(20)}${'-'.repeat(10)}]  66% 2/3 rows (sealed 0, legacy plaintext sealed 2, already current 0, failed 0)` +
        `\r[${'#'.repeat(30)}] 100% 3/3 rows (sealed 0, legacy plaintext sealed 3, already current 0, failed 0)` +
        '\nreencrypt done: sealed 0, legacy plaintext sealed 3, already current 0, failed 0\n',
    });
  });
});
