import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const WORKER = join(__dirname, 'store-worker.ts');

/** The platform every worker works on. */
export const PLATFORM = 'jira';

/** How a worker process ended, with what it printed. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A worker process still running: its progress events, its end, and a way to kill it. */
export interface RunningWorker {
  /** Resolves with the first `{ "event": name, ... }` line the worker prints; rejects if it exits first. */
  event<T extends object>(name: string): Promise<T>;
  kill(signal: NodeJS.Signals): void;
  exit: Promise<WorkerExit>;
}

/**
 * Starts test/support/store-worker.ts (or `options.worker`) as a separate Node process on `database`:
 * a SQLite file's path (given as `DATABASE_PATH`) or a server URL such as `postgres://...` (given as
 * `DATABASE_URL`). `options.env` adds variables, e.g. secrets that must not go on the command line.
 */
export function startWorker(
  database: string,
  mode: string,
  args: object,
  options: { worker?: string; env?: Record<string, string> } = {},
): RunningWorker {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.NODE_ENV;
  delete env.DATABASE_PATH;
  delete env.DATABASE_URL;
  env[/^[a-z][a-z0-9+.-]*:\/\//i.test(database) ? 'DATABASE_URL' : 'DATABASE_PATH'] = database;
  const worker = options.worker ?? WORKER;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', worker, mode, JSON.stringify(args)], {
    cwd: ROOT,
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<WorkerExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const event = <T extends object>(name: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const look = (): boolean => {
        const found = stdout
          .split('\n')
          .filter((line) => line.startsWith('{"event":'))
          .map((line) => JSON.parse(line) as T & { event: string })
          .find((line) => line.event === name);
        if (found) {
          resolve(found);
        }
        return found !== undefined;
      };
      if (!look()) {
        const onData = (): void => {
          if (look()) {
            child.stdout.off('data', onData);
          }
        };
        child.stdout.on('data', onData);
        void exit.then(() =>
          reject(new Error(`worker ${mode} exited before printing event ${name}: ${stderr.trim()}`)),
        );
      }
    });
  return { event, kill: (signal) => child.kill(signal), exit };
}

/** Runs a worker on `database` (see {@link startWorker}) to its end. */
export function runWorker(database: string, mode: string, args: object): Promise<WorkerExit> {
  return startWorker(database, mode, args).exit;
}

/** The JSON line a worker that must have succeeded printed last. */
export async function resultOf<T>(exit: Promise<WorkerExit>, mode: string): Promise<T> {
  const { code, signal, stdout, stderr } = await exit;
  if (code !== 0) {
    throw new Error(`worker ${mode} exited with ${code ?? signal}: ${stderr.trim()}`);
  }
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as T;
}

/** Runs a worker that must succeed, and parses the JSON line it printed last. */
export function runWorkerForResult<T>(database: string, mode: string, args: object): Promise<T> {
  return resultOf<T>(runWorker(database, mode, args), mode);
}
