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

/** Starts test/support/store-worker.ts as a separate Node process on the database file `databasePath`. */
export function startWorker(databasePath: string, mode: string, args: object): RunningWorker {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_PATH: databasePath };
  delete env.NODE_ENV;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', WORKER, mode, JSON.stringify(args)], { cwd: ROOT, env });
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
        void exit.then(() => reject(new Error(`worker ${mode} exited before printing event ${name}: ${stderr.trim()}`)));
      }
    });
  return { event, kill: (signal) => child.kill(signal), exit };
}

/** Runs a worker to its end. */
export function runWorker(databasePath: string, mode: string, args: object): Promise<WorkerExit> {
  return startWorker(databasePath, mode, args).exit;
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
export function runWorkerForResult<T>(databasePath: string, mode: string, args: object): Promise<T> {
  return resultOf<T>(runWorker(databasePath, mode, args), mode);
}
