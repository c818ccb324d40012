/**
 * The refresh storm of `npm run bench`: many grants whose access tokens expire within the same
 * minute, `accessToken` asked for every one of them by several processes at once, each with several
 * callers, against a local token endpoint (in this process, on 127.0.0.1) that answers at once,
 * rotates the refresh token, and counts the refreshes of each grant. With no network time left,
 * what it measures is the store's share of a refresh: the lease, the reads, the conditional write,
 * the refresh health, and the waits of the callers that lost the lease.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createFreshDatabase } from '../../test/support/server-databases';
import { percentile, round } from './measure';
import { exited, forkBench, nextMessage } from './processes';
import { TargetResult } from './results';
import { int, table } from './report';

/** Where a storm runs: the SQLite file (WAL, fsync at every commit) or a server. */
export type StormEngine = 'sqlite-wal' | 'postgres' | 'mariadb';

/** The size of a storm. */
export interface StormPlan {
  readonly engines: readonly StormEngine[];
  /** Grants seeded with an access token that expires within the coming minute. */
  readonly grants: number;
  /** Processes, each asking `accessToken` for every grant, in the same order. */
  readonly processes: number;
  /** Concurrent callers in each process. */
  readonly callers: number;
}

/** The storm: 10,000 grants, 4 processes x 8 callers. */
export const FULL_STORM: StormPlan = {
  engines: ['sqlite-wal', 'postgres', 'mariadb'],
  grants: 10_000,
  processes: 4,
  callers: 8,
};

/** `--quick`: the same shape on 64 grants; checks that it runs, proves nothing about speed. */
export const QUICK_STORM: StormPlan = { ...FULL_STORM, grants: 64 };

/** What one storm worker is asked to do (argv[2], JSON). */
export interface StormJob {
  readonly engine: StormEngine;
  /** The SQLite file path or the fresh server database's URL. */
  readonly database: string;
  readonly tokenUrl: string;
  readonly grants: number;
  readonly callers: number;
  /** This worker's index among `processes`: its share of the upsert phase. */
  readonly index: number;
  readonly processes: number;
  /** The first worker seeds the grants (and migrates the database) before the others boot. */
  readonly seed: boolean;
}

/** The platform of every storm grant; its tenant is `storm-<n>`. */
export const STORM_PLATFORM = 'jira';
export const stormTenant = (grant: number): string => `storm-${grant}`;
/** A grant's refresh token of one generation: the endpoint reads the grant and generation back from it. */
export const stormRefreshToken = (grant: number, generation: number): string => `storm.${grant}.${generation}`;

/** One worker's storm: every `accessToken` call, and what the calls that refreshed spent where. */
export interface StormWorkerResult {
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  /** Every call's latency (µs), in grant order. */
  readonly latenciesUs: number[];
  /** Calls that sent the refresh to the token endpoint (and had it answer). */
  readonly refreshes: number;
  /** Sum over those calls of their whole time, and of the time spent awaiting the token endpoint (µs). */
  readonly refreshCallUs: number;
  readonly refreshEndpointUs: number;
  /** Statements TypeORM sent inside the calls that refreshed, by kind (`INSERT atlassian_oauth_refresh_lease`). */
  readonly refreshStatements: Record<string, number>;
  /** Statements TypeORM sent during the whole storm by this worker. */
  readonly statements: number;
  /** Failed calls by error name. */
  readonly errors: Record<string, number>;
}

/** One worker's upserts of its share of the grants, with as many callers. */
export interface StormUpsertResult {
  readonly latenciesUs: number[];
  readonly statements: number;
}

/** What a storm worker answers. */
export type StormReply =
  | { type: 'ready' }
  | { type: 'storm'; result: StormWorkerResult }
  | { type: 'upsert'; result: StormUpsertResult }
  | { type: 'failed'; error: string };

/** What the parent tells a ready worker. */
export type StormRequest = { type: 'storm' } | { type: 'upsert' } | { type: 'exit' };

/** One engine's storm, as reported. */
export interface StormEngineResult {
  readonly engine: StormEngine;
  readonly grants: number;
  readonly processes: number;
  readonly callers: number;
  readonly seconds: number;
  readonly refreshesPerSec: number;
  /** `accessToken` calls (every process asks for every grant). */
  readonly calls: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Refreshes the token endpoint answered, and by the callers' count. */
  readonly endpointRefreshes: number;
  readonly callerRefreshes: number;
  /** Grants the endpoint refreshed more than once, and not at all. */
  readonly grantsRefreshedTwice: number;
  readonly grantsNotRefreshed: number;
  /** Requests with a refresh token that had already been rotated (a real endpoint answers `invalid_grant`). */
  readonly staleRefreshTokens: number;
  /** Mean whole time of a call that refreshed, the endpoint's part of it, and the rest: the store's share (µs). */
  readonly refreshCallMeanUs: number;
  readonly refreshEndpointMeanUs: number;
  readonly refreshStoreMeanUs: number;
  /** Statements inside a call that refreshed, and every call's statements over the refreshes. */
  readonly statementsPerRefresh: number;
  readonly statementsPerRefreshAllCallers: number;
  /** Statements of a refreshing call by kind, per refresh. */
  readonly refreshStatementKinds: Record<string, number>;
  /** `repo.upsert` of the same grants afterwards, same processes and callers: mean, p50, p99 (µs), statements each. */
  readonly upsertMeanUs: number;
  readonly upsertP50Us: number;
  readonly upsertP99Us: number;
  readonly statementsPerUpsert: number;
  /** The store's share of a refresh over one upsert. */
  readonly storeVsUpsert: number;
  /** Failed `accessToken` calls by error name. */
  readonly errors: Record<string, number>;
}

export interface StormResult {
  readonly engines: StormEngineResult[];
}

/** The storm's limits. */
export const STORM_LIMITS = {
  /** The store's share of a refresh over one `upsert` in the same run. */
  storeVsUpsert: 4,
  /** Grants refreshed twice (the endpoint counts them). */
  refreshedTwice: 0,
} as const;

/**
 * The local token endpoint: answers every refresh at once with the grant's next refresh token,
 * and counts, per grant, the refreshes it answered. A refresh token that was already rotated is
 * refused with `invalid_grant`, as Atlassian does after its reuse interval.
 */
class StormEndpoint {
  private readonly generations = new Map<number, number>();
  private readonly refreshes = new Map<number, number>();
  stale = 0;
  private readonly server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const presented = new URLSearchParams(body).get('refresh_token') ?? '';
      const [, grantText, generationText] = /^storm\.(\d+)\.(\d+)$/.exec(presented) ?? [];
      const grant = Number(grantText);
      const generation = Number(generationText);
      const current = this.generations.get(grant) ?? 0;
      if (grantText === undefined || generation !== current) {
        this.stale += 1;
        res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
      this.generations.set(grant, current + 1);
      this.refreshes.set(grant, (this.refreshes.get(grant) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(
        JSON.stringify({
          access_token: `storm-access-${grant}-${current + 1}`,
          refresh_token: stormRefreshToken(grant, current + 1),
          expires_in: 3600,
          token_type: 'Bearer',
        }),
      );
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/oauth/token`;
  }

  /** The refreshes answered, and how many grants were refreshed more than once and not at all. */
  counts(grants: number): { refreshes: number; twice: number; never: number } {
    let refreshes = 0;
    let twice = 0;
    for (const count of this.refreshes.values()) {
      refreshes += count;
      twice += count > 1 ? 1 : 0;
    }
    return { refreshes, twice, never: grants - this.refreshes.size };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The storm worker's answer of `type`, or its failure as an error. */
async function reply<T extends StormReply['type']>(
  child: ReturnType<typeof forkBench>,
  type: T,
): Promise<Extract<StormReply, { type: T }>> {
  const answer = await nextMessage<StormReply>(child, (m) => m.type === type || m.type === 'failed');
  if (answer.type === 'failed') {
    throw new Error(`storm worker failed: ${answer.error}`);
  }
  return answer as Extract<StormReply, { type: T }>;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
const sortedUs = (values: readonly number[]): Float64Array => Float64Array.from(values).sort();

/** One storm on one database: boots the workers (the first seeds), lets them loose together, then the upserts. */
async function stormOn(engine: StormEngine, database: string, plan: StormPlan): Promise<StormEngineResult> {
  const endpoint = new StormEndpoint();
  const tokenUrl = await endpoint.listen();
  const script = join(__dirname, '..', 'storm-worker.ts');
  const job = (index: number): StormJob => ({
    engine,
    database,
    tokenUrl,
    grants: plan.grants,
    callers: plan.callers,
    index,
    processes: plan.processes,
    seed: index === 0,
  });
  const workers: ReturnType<typeof forkBench>[] = [];
  try {
    // The first worker migrates and seeds alone; the others boot on the finished schema.
    workers.push(forkBench(script, [JSON.stringify(job(0))], null));
    await reply(workers[0] as ReturnType<typeof forkBench>, 'ready');
    for (let index = 1; index < plan.processes; index++) {
      workers.push(forkBench(script, [JSON.stringify(job(index))], null));
    }
    await Promise.all(workers.slice(1).map((child) => reply(child, 'ready')));
    const ask = async <T extends 'storm' | 'upsert'>(type: T) =>
      Promise.all(
        workers.map((child) => {
          const answer = reply(child, type);
          child.send({ type } satisfies StormRequest);
          return answer;
        }),
      );
    const storm = (await ask('storm')).map((answer) => answer.result);
    const counts = endpoint.counts(plan.grants);
    const upserts = (await ask('upsert')).map((answer) => answer.result);
    for (const child of workers) {
      child.send({ type: 'exit' } satisfies StormRequest);
    }
    await Promise.all(workers.map((child) => exited(child)));

    const seconds = (Math.max(...storm.map((w) => w.endedAtMs)) - Math.min(...storm.map((w) => w.startedAtMs))) / 1000;
    const latencies = sortedUs(storm.flatMap((w) => w.latenciesUs));
    const upsertLatencies = upserts.flatMap((w) => w.latenciesUs);
    const upsertSorted = sortedUs(upsertLatencies);
    const callerRefreshes = sum(storm.map((w) => w.refreshes));
    const perRefresh = (value: number): number => (callerRefreshes === 0 ? Number.NaN : value / callerRefreshes);
    const kinds: Record<string, number> = {};
    for (const worker of storm) {
      for (const [kind, count] of Object.entries(worker.refreshStatements)) {
        kinds[kind] = (kinds[kind] ?? 0) + count;
      }
    }
    const errors: Record<string, number> = {};
    for (const worker of storm) {
      for (const [name, count] of Object.entries(worker.errors)) {
        errors[name] = (errors[name] ?? 0) + count;
      }
    }
    const refreshCallMeanUs = perRefresh(sum(storm.map((w) => w.refreshCallUs)));
    const refreshEndpointMeanUs = perRefresh(sum(storm.map((w) => w.refreshEndpointUs)));
    const refreshStoreMeanUs = refreshCallMeanUs - refreshEndpointMeanUs;
    const upsertMeanUs = sum(upsertLatencies) / upsertLatencies.length;
    return {
      engine,
      grants: plan.grants,
      processes: plan.processes,
      callers: plan.callers,
      seconds: round(seconds, 2),
      refreshesPerSec: round(counts.refreshes / seconds, 0),
      calls: latencies.length,
      p50Us: round(percentile(latencies, 0.5), 0),
      p99Us: round(percentile(latencies, 0.99), 0),
      endpointRefreshes: counts.refreshes,
      callerRefreshes,
      grantsRefreshedTwice: counts.twice,
      grantsNotRefreshed: counts.never,
      staleRefreshTokens: endpoint.stale,
      refreshCallMeanUs: round(refreshCallMeanUs, 0),
      refreshEndpointMeanUs: round(refreshEndpointMeanUs, 0),
      refreshStoreMeanUs: round(refreshStoreMeanUs, 0),
      statementsPerRefresh: round(perRefresh(sum(Object.values(kinds))), 2),
      statementsPerRefreshAllCallers: round(perRefresh(sum(storm.map((w) => w.statements))), 2),
      refreshStatementKinds: Object.fromEntries(
        Object.entries(kinds)
          .sort(([, a], [, b]) => b - a)
          .map(([kind, count]) => [kind, round(perRefresh(count), 2)]),
      ),
      upsertMeanUs: round(upsertMeanUs, 0),
      upsertP50Us: round(percentile(upsertSorted, 0.5), 0),
      upsertP99Us: round(percentile(upsertSorted, 0.99), 0),
      statementsPerUpsert: round(sum(upserts.map((w) => w.statements)) / upsertLatencies.length, 2),
      storeVsUpsert: round(refreshStoreMeanUs / upsertMeanUs, 2),
      errors,
    };
  } finally {
    for (const child of workers) {
      if (child.exitCode === null) {
        child.kill();
      }
    }
    await endpoint.close();
  }
}

/** Where the storm's engines are: the scratch directory for the SQLite file, admin URLs for the servers. */
export interface StormServers {
  readonly postgres?: string;
  readonly mariadb?: string;
}

/**
 * Runs the storm on each engine of `plan` that can run (a server only when named), each with its
 * own token endpoint: one after the other, or all at once when `together` (a quick run, which
 * measures nothing).
 */
export async function runStorm(
  plan: StormPlan,
  scratch: string,
  servers: StormServers,
  together = false,
): Promise<StormResult> {
  const runs = plan.engines
    .filter((engine) => engine === 'sqlite-wal' || servers[engine] !== undefined)
    .map((engine) => async (): Promise<StormEngineResult> => {
      process.stderr.write(`bench: refresh storm, ${engine}, ${plan.grants} grants\n`);
      if (engine === 'sqlite-wal') {
        return stormOn(engine, join(scratch, 'storm.sqlite'), plan);
      }
      const fresh = await createFreshDatabase(servers[engine] as string);
      try {
        return await stormOn(engine, fresh.url, plan);
      } finally {
        await fresh.drop();
      }
    });
  if (together) {
    return { engines: await Promise.all(runs.map((run) => run())) };
  }
  const engines: StormEngineResult[] = [];
  for (const run of runs) {
    engines.push(await run());
  }
  return { engines };
}
/** The storm's targets on every engine: the store's share of a refresh against an upsert, and no grant refreshed twice. */
export function evaluateStormTargets(storm: StormResult): TargetResult[] {
  return storm.engines.flatMap((e) => {
    const where = `${e.engine}, ${int(e.grants)} grants, ${e.processes} processes x ${e.callers} callers`;
    return [
      {
        target: `refresh storm: the store's share of a refresh within ${STORM_LIMITS.storeVsUpsert}x of one upsert`,
        where,
        measured: e.storeVsUpsert,
        limit: STORM_LIMITS.storeVsUpsert,
        met: e.storeVsUpsert <= STORM_LIMITS.storeVsUpsert,
      },
      {
        target: 'refresh storm: grants refreshed twice (counted by the token endpoint)',
        where,
        measured: e.grantsRefreshedTwice,
        limit: STORM_LIMITS.refreshedTwice,
        met: e.grantsRefreshedTwice <= STORM_LIMITS.refreshedTwice,
      },
    ];
  });
}

/** The markdown section of the storm. */
export function renderStorm(storm: StormResult): string {
  const first = storm.engines[0];
  if (first === undefined) {
    return '';
  }
  return [
    `### Refresh storm (plaintext; ${int(first.grants)} grants expiring within the same minute, ${first.processes} processes x ${first.callers} callers; a local token endpoint that answers at once)`,
    '',
    "Every process asks `AtlassianOauthTokenService.accessToken` for every grant, in the same order, so all of them reach each grant at about the same time: one refreshes it (the lease, the token endpoint, the compare-and-swap write, the refresh health), the others wait for the lease and read the result. The store's share of a refresh is the mean time of a call that refreshed less the time it awaited the token endpoint; its reference is a `repo.upsert` of the same grants right afterwards, with the same processes and callers. Statements are counted by a TypeORM logger (`BEGIN`/`COMMIT` included).",
    '',
    table(
      [
        'engine',
        'seconds',
        'refreshes/s',
        'accessToken p50 / p99 ms',
        'refreshes by the endpoint (callers)',
        'grants refreshed twice / never',
        'stale refresh tokens',
        'refreshing call / endpoint / store µs',
        'upsert mean / p99 µs',
        'store / upsert',
        'statements per refresh (all callers)',
        'statements per upsert',
        'failed calls',
      ],
      storm.engines.map((e) => [
        e.engine,
        String(e.seconds),
        int(e.refreshesPerSec),
        `${(e.p50Us / 1000).toFixed(2)} / ${(e.p99Us / 1000).toFixed(2)}`,
        `${int(e.endpointRefreshes)} (${int(e.callerRefreshes)})`,
        `${e.grantsRefreshedTwice} / ${e.grantsNotRefreshed}`,
        String(e.staleRefreshTokens),
        `${int(e.refreshCallMeanUs)} / ${int(e.refreshEndpointMeanUs)} / ${int(e.refreshStoreMeanUs)}`,
        `${int(e.upsertMeanUs)} / ${int(e.upsertP99Us)}`,
        `${e.storeVsUpsert.toFixed(2)}x`,
        `${e.statementsPerRefresh} (${e.statementsPerRefreshAllCallers})`,
        String(e.statementsPerUpsert),
        Object.entries(e.errors)
          .map(([name, count]) => `${name} ${count}`)
          .join(', ') || '0',
      ]),
    ),
    '',
    'Statements of a refreshing call, per refresh, by kind:',
    '',
    table(
      ['engine', 'statements'],
      storm.engines.map((e) => [
        e.engine,
        Object.entries(e.refreshStatementKinds)
          .map(([kind, count]) => `${kind} ${count}`)
          .join('; '),
      ]),
    ),
  ].join('\n');
}
