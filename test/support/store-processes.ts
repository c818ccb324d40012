import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const WORKER = join(__dirname, 'store-worker.ts');

/** How a worker process ended, with what it printed. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs test/support/store-worker.ts as a separate Node process on the database file `databasePath`. */
export function runWorker(databasePath: string, mode: string, args: object): Promise<WorkerExit> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_PATH: databasePath };
  delete env.NODE_ENV;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', WORKER, mode, JSON.stringify(args)], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs a worker that must succeed, and parses the JSON line it printed last. */
export async function runWorkerForResult<T>(databasePath: string, mode: string, args: object): Promise<T> {
  const exit = await runWorker(databasePath, mode, args);
  if (exit.code !== 0) {
    throw new Error(`worker ${mode} exited with ${exit.code ?? exit.signal}: ${exit.stderr.trim()}`);
  }
  const lines = exit.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as T;
}
