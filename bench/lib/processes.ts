import { ChildProcess, fork } from 'node:child_process';

/** The environment variable that holds agent-core's token key ring (read by `loadDatabaseConfig`). */
const KEY_RING_VARIABLE = 'OAUTH_STATE_ENCRYPTION_KEYS';

/**
 * Starts a TypeScript file of bench/ as a child process with an IPC channel, the way run.ts
 * runs, configured as an operator would configure agent-core: with `keyRing` as its token key
 * ring, or with none (plaintext). `NODE_ENV` is dropped, so neither `test` nor `production`
 * defaults apply.
 */
export function forkBench(script: string, args: string[], keyRing: string | null): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_ENV;
  delete env[KEY_RING_VARIABLE];
  if (keyRing !== null) {
    env[KEY_RING_VARIABLE] = keyRing;
  }
  return fork(script, args, {
    env,
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The next IPC message of `child` that `accept` takes; rejects if the child exits first. */
export function nextMessage<T>(child: ChildProcess, accept: (message: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T): void => {
      if (accept(message)) {
        cleanup();
        resolve(message);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`bench child exited with ${code} before answering`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Resolves with the child's exit code. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
