/**
 * The keep-alive sweep's part of `npm run bench`: keys per second over idle keys on SQLite (a WAL
 * file, and in memory), against a local token endpoint (in this process, on 127.0.0.1) that answers at once, and
 * the sweeping process's memory. With no network time left, what it measures is the store's
 * ceiling: Atlassian's endpoint (its latency and rate limits) is the real limit.
 */
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exited, forkBench, nextMessage } from './processes';

/** Where a sweep's keys are: a SQLite file (WAL, fsync at every commit) or in memory (no fsync: the CPU's ceiling). */
export type KeepAliveBenchEngine = 'sqlite-wal' | 'sqlite-memory';

/** One sweep over `keys` idle keys. */
export interface KeepAliveSweepStats {
  readonly engine: KeepAliveBenchEngine;
  readonly keys: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly keysPerSec: number;
  readonly refreshed: number;
  /** Requests the local token endpoint answered during the sweep (must equal `refreshed`). */
  readonly tokenRequests: number;
  /** JS heap used after a full GC, sampled every 5 % of the sweep: first (before it), peak, last. */
  readonly heapFirstMiB: number;
  readonly heapPeakMiB: number;
  readonly heapLastMiB: number;
  /** Peak resident set of the sweeping process over its whole life. */
  readonly maxRssMiB: number;
}

export interface KeepAliveBenchResult {
  readonly sweeps: KeepAliveSweepStats[];
}

/** What the worker is asked to do. */
export interface KeepAliveJob {
  engine: KeepAliveBenchEngine;
  database: string;
  /** The local token endpoint; the worker's client credentials are fixed bench values (the endpoint checks none). */
  tokenUrl: string;
  keys: number;
  concurrency: number;
}

/** Runs one sweep per size in a process of its own (its memory is its own), against an endpoint in this one. */
export async function runKeepAliveBench(
  runs: readonly { engine: KeepAliveBenchEngine; keys: number }[],
  concurrency: number,
  scratch: string,
): Promise<KeepAliveBenchResult> {
  let requests = 0;
  const endpoint = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/oauth/token/accessible-resources') {
        // The sweep reads each refreshed grant's sites (issue 22): none here, answered at once.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('[]');
        return;
      }
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(
        JSON.stringify({
          access_token: `bench-access-${requests}`,
          refresh_token: `bench-refresh-${requests}`,
          expires_in: 3600,
          token_type: 'Bearer',
        }),
      );
    });
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const { port } = endpoint.address() as AddressInfo;
  const sweeps: KeepAliveSweepStats[] = [];
  try {
    for (const { engine, keys } of runs) {
      process.stderr.write(`bench: keep-alive sweep, ${engine}, ${keys} idle keys\n`);
      requests = 0;
      const job: KeepAliveJob = {
        engine,
        database: engine === 'sqlite-memory' ? ':memory:' : join(scratch, `keep-alive-${keys}.sqlite`),
        tokenUrl: `http://127.0.0.1:${port}/oauth/token`,
        keys,
        concurrency,
      };
      const child = forkBench(join(__dirname, '..', 'keep-alive-worker.ts'), [JSON.stringify(job)], null);
      const answer = await nextMessage<{ result?: Omit<KeepAliveSweepStats, 'tokenRequests'>; error?: string }>(
        child,
        () => true,
      );
      await exited(child);
      if (answer.result === undefined) {
        throw new Error(`keep-alive sweep failed: ${answer.error ?? 'no result'}`);
      }
      sweeps.push({ ...answer.result, tokenRequests: requests });
    }
  } finally {
    endpoint.closeAllConnections();
    await new Promise((resolve) => endpoint.close(resolve));
  }
  return { sweeps };
}

/** The markdown section of the sweep. */
export function renderKeepAlive(result: KeepAliveBenchResult): string {
  const rows = result.sweeps.map((s) =>
    [
      s.engine,
      s.keys.toLocaleString('en-US'),
      s.concurrency,
      s.seconds,
      Math.round(s.keysPerSec).toLocaleString('en-US'),
      `${s.refreshed} / ${s.tokenRequests}`,
      `${s.heapFirstMiB} / ${s.heapPeakMiB} / ${s.heapLastMiB}`,
      s.maxRssMiB,
    ].join(' | '),
  );
  return [
    '### Keep-alive sweep (plaintext; a local token endpoint that answers at once)',
    '',
    'Every key idle; each is refreshed through `AtlassianOauthTokenService.refreshIdle`: the refresh lease, the compare-and-swap write, the health check. `sqlite-wal` is a file with `synchronous = FULL` (every commit fsynced), `sqlite-memory` the CPU ceiling without fsync. JS heap after a full GC, sampled every 5 % of the sweep (the GCs count in its time).',
    '',
    '| engine | idle keys | concurrency | seconds | keys/s | refreshed / endpoint requests | JS heap MiB first / peak / last | max RSS MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row} |`),
  ].join('\n');
}
