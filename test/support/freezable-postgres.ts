import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port';

/** The PostgreSQL server binaries of this machine, or `undefined` when none is installed. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) {
    return undefined;
  }
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((version) => join(root, version, 'bin')).find((bin) => existsSync(join(bin, 'initdb')));
}

/**
 * Why a private PostgreSQL cannot run here, or `undefined` when it can: it needs the server
 * binaries and root (the server refuses to run as root, so it runs as `postgres` via runuser).
 */
export function freezablePostgresUnavailable(): string | undefined {
  if (!postgresBin()) {
    return 'no PostgreSQL server binaries under /usr/lib/postgresql/*/bin';
  }
  if (process.getuid?.() !== 0) {
    return 'not running as root, so the server cannot be started as the postgres user';
  }
  return undefined;
}

/**
 * A PostgreSQL server of the test's own: `initdb` into a temp folder, on its own port, run as the
 * `postgres` user. It can be stopped, restarted and frozen (SIGSTOP) without touching any other
 * server.
 */
export class FreezablePostgres {
  private server?: ChildProcess;

  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly port: number,
  ) {}

  /** `DATABASE_URL` of its `postgres` database. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<FreezablePostgres> {
    const bin = postgresBin();
    if (!bin) {
      throw new Error('no PostgreSQL binaries');
    }
    const dir = mkdtempSync(join(tmpdir(), 'agent-core-pg-'));
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    execFileSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(bin, 'initdb'),
        '-D',
        join(dir, 'data'),
        '-A',
        'trust',
        '-U',
        'postgres',
        '--no-sync',
      ],
      {
        stdio: 'ignore',
      },
    );
    const pg = new FreezablePostgres(bin, dir, await freePort());
    await pg.start();
    return pg;
  }

  /** Starts the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    this.server = spawn(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(this.bin, 'postgres'),
        '-D',
        join(this.dir, 'data'),
        '-p',
        String(this.port),
        '-k',
        this.dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
      ],
      { stdio: 'ignore' },
    );
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        execFileSync(join(this.bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port), '-q']);
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error('the private PostgreSQL did not start');
  }

  /** Stops the server (`fast`: sessions are terminated with 57P01, as in an orderly restart). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    this.resume();
    const exited = new Promise((resolve) => this.server?.once('exit', resolve));
    execFileSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(this.bin, 'pg_ctl'),
        'stop',
        '-D',
        join(this.dir, 'data'),
        '-m',
        mode,
        '-w',
        '-t',
        '10',
      ],
      { stdio: 'ignore' },
    );
    await exited;
  }

  /** Freezes the server and every backend (SIGSTOP): it keeps its sockets open and answers nothing. */
  freeze(): void {
    this.signalAll('SIGSTOP');
  }

  /**
   * Lets a frozen server run again (SIGCONT). runuser stops itself when its child stops (as su
   * does), and would never reap the server afterwards, so it is continued too.
   */
  resume(): void {
    this.signalAll('SIGCONT');
    if (this.server?.pid !== undefined && this.server.exitCode === null) {
      process.kill(this.server.pid, 'SIGCONT');
    }
  }

  async destroy(): Promise<void> {
    if (this.server && this.server.exitCode === null) {
      await this.stop('immediate');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The postmaster (from its pid file) and its children: this server's processes and no other. */
  private signalAll(signal: NodeJS.Signals): void {
    const pidFile = join(this.dir, 'data', 'postmaster.pid');
    if (!existsSync(pidFile)) {
      return;
    }
    const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)])
      .toString()
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
    for (const pid of [postmaster, ...children]) {
      try {
        process.kill(pid, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  }
}
