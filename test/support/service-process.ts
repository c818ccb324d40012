import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PUBLIC_PATHS } from '../../src/http/http-listeners';

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
  /**
   * `http://127.0.0.1:<port><path>` once running, on the listener that serves `path`: the public
   * one for `/atlassian/authorize` and `/atlassian/callback`, the internal one for anything else.
   */
  url(path: string): string;
  /** `path` on the public listener (`PORT`), whatever it is. */
  publicUrl(path: string): string;
  /** `path` on the internal listener (`INTERNAL_PORT`), whatever it is. */
  internalUrl(path: string): string;
}

/**
 * Starts the service with `env` added to this process's environment (without this process's
 * `NODE_ENV`, so the service runs as deployed; `env` may set one), `PORT=0` and `INTERNAL_PORT=0`
 * on 127.0.0.1 unless given, so parallel tests never share a port.
 */
export function startService(env: NodeJS.ProcessEnv): ServiceProcess {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    INTERNAL_PORT: '0',
    INTERNAL_HOST: '127.0.0.1',
    NO_COLOR: '1',
  };
  delete childEnv.NODE_ENV;
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: childEnv,
  });
  let text = '';
  let port: number | undefined;
  let internalPort: number | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const listening = /HTTP server listening on port (\d+)/.exec(text);
      const internal = /Internal HTTP server listening on \S+ port (\d+)/.exec(text);
      if (listening && internal && text.includes('agent-core is running')) {
        port = Number(listening[1]);
        internalPort = Number(internal[1]);
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
    url: (path) => at(PUBLIC_PATHS.includes(path.split('?')[0] ?? '') ? port : internalPort, path),
    publicUrl: (path) => at(port, path),
    internalUrl: (path) => at(internalPort, path),
  };
}

function at(port: number | undefined, path: string): string {
  if (port === undefined) {
    throw new Error('the service is not running yet');
  }
  return `http://127.0.0.1:${port}${path}`;
}

/** Stops a service that a test left running (SIGKILL: the test has already failed or finished). */
export async function killService(service: ServiceProcess | undefined): Promise<void> {
  if (service && service.child.exitCode === null && service.child.signalCode === null) {
    service.child.kill('SIGKILL');
    await service.exited;
  }
}
