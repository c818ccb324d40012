import { PassThrough, Readable } from 'node:stream';
import { runCli } from '../../src/cli/cli';

/** What one in-process `agent-core` run did. */
export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one `agent-core` command in this process on `env`, with empty stdin, collecting its output. */
export async function runCliInProcess(args: readonly string[], env: NodeJS.ProcessEnv): Promise<InProcessRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(args, { env, stdout, stderr, stdin: Readable.from([]), now: () => new Date() });
  return { code, stdout: out, stderr: err };
}
