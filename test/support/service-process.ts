import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** src/main.ts running in a child process, as `npm start` runs it (without the build). */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once it logged that it is running, with the port it listens on. */
  readonly running: Promise<number>;
  /** Resolves with its exit code once it exited. */
  readonly exited: Promise<number | null>;
  /** `http://127.0.0.1:<port>` once running. */
  url(path: string): string;
}

/**
 * Starts the service with `env` added to this process's environment (without this process's
 * `NODE_ENV`, so the service runs as deployed; `env` may set one) and `PORT=0` unless given, so parallel tests never share a port.
 */
export function startService(env: NodeJS.ProcessEnv): ServiceProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: '0', NO_COLOR: '1' };
  delete childEnv.NODE_ENV;
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: childEnv,
  });
  let text = '';
  let port: number | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const listening = /HTTP server listening on port (\d+)/.exec(text);
      if (listening && text.includes('agent-core is running')) {
        port = Number(listening[1]);
        resolve(port);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`service exited early with ${code}: ${text}`)));
  });
  running.catch(() => undefined);
  return {
    child,
    output: () => text,
    running,
    exited,
    url: (path) => {
      if (port === undefined) {
        throw new Error('the service is not running yet');
      }
      return `http://127.0.0.1:${port}${path}`;
    },
  };
}

/** Stops a service that a test left running (SIGKILL: the test has already failed or finished). */
export async function killService(service: ServiceProcess | undefined): Promise<void> {
  if (service && service.child.exitCode === null && service.child.signalCode === null) {
    service.child.kill('SIGKILL');
    await service.exited;
  }
}
