#!/usr/bin/env node
import 'reflect-metadata';
import { Console } from 'node:console';
import { runCli } from './cli';

// stdout carries the results and nothing else: every log line (TypeORM's `query:` lines with
// DATABASE_LOGGING=true, a library's console.log) goes to stderr, so `--json` output always parses.
globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });

// `agent-core list | head -1`: a closed pipe ends the output, it is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') {
    process.exit(0);
  }
  throw error;
});

void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  now: () => new Date(),
}).then((exitCode) => {
  process.exitCode = exitCode;
});
