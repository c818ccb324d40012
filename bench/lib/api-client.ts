/**
 * `AtlassianApiClient`'s part of `npm run bench`:
 * - its cost: `request` against a raw `fetch` with a fixed token, both against a local server that
 *   answers at once (target: p50 within 1.2x);
 * - the shared budget: 4 processes, 20 tenants, one of them flooding, against the app budget of
 *   the test server's REST gateway stand-in: requests the stand-in received during a pause (once
 *   every process could know of it) with no ceiling set, and with each process paced by
 *   `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND` (95% of the budget between them) goodput as a share of
 *   the budget and the quiet tenants' p99 against their p99 without the flood (the same with no
 *   ceiling is shown beside it).
 * Writes DIR/api-client.json and DIR/api-client.md; a full run into bench/results also writes the
 * table into docs/performance.md.
 */
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AtlassianOauthStateRepo, AtlassianSiteRepo } from '../../src/atlassian';
import type { CallLoopArgs, CallLoopResult, CallLoopTenant } from '../../test/support/api-worker';
import { connectWithSite } from '../../test/support/api-tenants';
import { openFileDatabase } from '../../test/support/file-database';
import { startOauthServer } from '../../test/support/oauth-server';
import { resultOf, startWorker } from '../../test/support/store-processes';
import { percentile, round } from './measure';
import { exited, forkBench, nextMessage } from './processes';
import { writeReadmeBlock } from './readme';

/** What bench/api-client-worker.ts is asked to do. */
export interface ApiLatencyJob {
  baseUrl: string;
  warmup: number;
  calls: number;
}

export interface ApiLatencyResult {
  calls: number;
  fetchP50Ms: number;
  fetchP99Ms: number;
  requestP50Ms: number;
  requestP99Ms: number;
  /** requestP50Ms / fetchP50Ms; target at most 1.2. */
  p50Ratio: number;
  /** A raw undici `request` with the fixed token: the transport the client sends with. */
  undiciP50Ms: number;
  /** requestP50Ms / undiciP50Ms: what the client adds to its own transport. */
  p50RatioUndici: number;
}

/** One run of the fleet against the stand-in. */
export interface ApiFleetRun {
  name: string;
  seconds: number;
  /** From the start to the last answer: calls started before the end still finish, after a wait or a turn. */
  spanSeconds: number;
  answered: number;
  limited: number;
  pauses: number;
  sentDuringPause: number;
  sentDuringPauseAll: number;
  quietCalls: number;
  quietP50Ms: number;
  quietP99Ms: number;
  floodCalls: number;
  failures: Record<string, number>;
}

export interface ApiBudgetResult {
  processes: number;
  tenants: number;
  appPoints: number;
  windowSeconds: number;
  graceMs: number;
  /** `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND` of each process in the paced run: {@link PACED_SHARE} of the app budget, split between the processes. */
  pacedPerProcess: number;
  alone: ApiFleetRun;
  flood: ApiFleetRun;
  /** The flood against the app budget with no ceiling: Atlassian's 429s pause the app; the pause rule's proof. */
  floodOverBudget: ApiFleetRun;
  /** The flood against the app budget with each process paced at {@link ApiBudgetResult.pacedPerProcess}. */
  floodOverBudgetPaced: ApiFleetRun;
  /** Answered calls of the paced budget run / the budget over its span (points per window x span / window); target at least 0.9. */
  goodputShare: number;
  /** The same share in the run with no ceiling (shown). */
  goodputShareUnpaced: number;
  /** Quiet tenants' p99 with the flood (no budget) / alone; target at most 2. */
  quietP99RatioFlood: number;
  /** Quiet tenants' p99 with the flood over the app budget, paced / alone; target at most 2. */
  quietP99RatioBudget: number;
  /** The same with no ceiling (shown). */
  quietP99RatioBudgetUnpaced: number;
}

export interface ApiClientBenchResult {
  quick: boolean;
  startedAt: string;
  latency: ApiLatencyResult;
  budget: ApiBudgetResult;
}

const PROCESSES = 4;
const TENANTS = 20;
const FLOODER = 'tenant-0';
/** The pause cache's second plus requests already under way when the 429 came. */
const GRACE_MS = 1_500;
/**
 * The share of the app budget the paced run's processes are configured to together: a little under
 * it, as docs/calling-atlassian.md advises, since the ceiling counts calls and the budget's window
 * is Atlassian's.
 */
const PACED_SHARE = 0.95;

const sortedP = (values: number[], fraction: number): number =>
  round(percentile(Float64Array.from(values).sort(), fraction), 2);

export async function runLatency(quick: boolean): Promise<ApiLatencyResult> {
  const body = JSON.stringify({ accountId: 'bench' });
  // accessible-resources lists the one site the worker's calls go to (read once, then stored).
  const sites = JSON.stringify([{ id: 'cloud-1', url: 'https://bench.atlassian.net', scopes: ['read:jira-work'] }]);
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.url === '/oauth/token/accessible-resources' ? sites : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const job: ApiLatencyJob = {
      baseUrl: `http://127.0.0.1:${port}`,
      warmup: quick ? 50 : 300,
      calls: quick ? 200 : 2_000,
    };
    const child = forkBench(join(__dirname, '..', 'api-client-worker.ts'), [JSON.stringify(job)], null);
    const answer = await nextMessage<{
      result?: { fetchMs: number[]; requestMs: number[]; undiciMs: number[] };
      error?: string;
    }>(child, () => true);
    await exited(child);
    if (answer.result === undefined) {
      throw new Error(`api client latency failed: ${answer.error ?? 'no result'}`);
    }
    const { fetchMs, requestMs, undiciMs } = answer.result;
    const fetchP50Ms = sortedP(fetchMs, 0.5);
    const requestP50Ms = sortedP(requestMs, 0.5);
    return {
      calls: job.calls,
      fetchP50Ms,
      fetchP99Ms: sortedP(fetchMs, 0.99),
      requestP50Ms,
      requestP99Ms: sortedP(requestMs, 0.99),
      p50Ratio: round(requestP50Ms / fetchP50Ms, 2),
      undiciP50Ms: sortedP(undiciMs, 0.5),
      p50RatioUndici: round(requestP50Ms / sortedP(undiciMs, 0.5), 2),
    };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function runBudget(quick: boolean): Promise<ApiBudgetResult> {
  const windowMs = quick ? 2_000 : 20_000;
  const appPoints = quick ? 100 : 2_000;
  const seconds = quick ? 4 : 40;
  const server = await startOauthServer();
  const database = await openFileDatabase('agent-core-bench-api-');
  try {
    const states = database.moduleRef.get(AtlassianOauthStateRepo);
    const sites = database.moduleRef.get(AtlassianSiteRepo);
    const tenants: CallLoopTenant[] = Array.from({ length: TENANTS }, (_, i) => ({
      tenantId: `tenant-${i}`,
      site: `cloud-${i}`,
      callers: 1,
      pauseMs: 1_000,
    }));
    for (const tenant of tenants) {
      await connectWithSite(server, states, sites, 'jira', tenant);
    }
    const flooding: CallLoopTenant = { tenantId: FLOODER, site: 'cloud-0', callers: 8, pauseMs: 0 };
    const quiet = tenants.filter((tenant) => tenant.tenantId !== FLOODER);
    const pacedPerProcess = round((PACED_SHARE * appPoints * 1000) / windowMs / PROCESSES, 2);
    const fleet = async (
      name: string,
      loads: CallLoopTenant[],
      budget: boolean,
      runSeconds: number,
      paced = false,
    ): Promise<ApiFleetRun> => {
      process.stderr.write(`bench: api client fleet, ${name}, ${runSeconds} s\n`);
      await server.configureGateway({
        budget: budget ? { app: { points: appPoints, windowMs } } : {},
        graceMs: GRACE_MS,
      });
      const startFile = join(dirname(database.path), `start-${name}.json`);
      const args: CallLoopArgs = {
        platform: 'jira',
        tenants: loads,
        path: '/rest/api/3/myself',
        startFile,
        durationMs: runSeconds * 1000,
      };
      const workers = Array.from({ length: PROCESSES }, () =>
        startWorker(database.path, 'call-loop', args, {
          worker: join(__dirname, '..', '..', 'test', 'support', 'api-worker.ts'),
          env: {
            ...server.env,
            ATLASSIAN_API_BASE_URL: server.apiBaseUrl,
            ...(paced ? { ATLASSIAN_API_MAX_REQUESTS_PER_SECOND: String(pacedPerProcess) } : {}),
          },
        }),
      );
      await Promise.all(workers.map((worker) => worker.event('ready')));
      const startAt = Date.now() + 200;
      writeFileSync(`${startFile}.tmp`, JSON.stringify({ startAt }));
      renameSync(`${startFile}.tmp`, startFile);
      const results = await Promise.all(workers.map((worker) => resultOf<CallLoopResult>(worker.exit, 'call-loop')));
      // Includes each worker's shutdown: the budget it is compared with is, if anything, too large.
      const spanSeconds = round((Date.now() - startAt) / 1000, 2);
      const stats = await server.gatewayStats();
      const quietDurations = results.flatMap((result) =>
        Object.entries(result.tenants)
          .filter(([tenantId]) => tenantId !== FLOODER)
          .flatMap(([, tenant]) => tenant.durationsMs),
      );
      const failures: Record<string, number> = {};
      for (const tenant of results.flatMap((result) => Object.values(result.tenants))) {
        for (const [error, count] of Object.entries(tenant.failures)) {
          failures[error] = (failures[error] ?? 0) + count;
        }
      }
      const run: ApiFleetRun = {
        name,
        seconds: runSeconds,
        spanSeconds,
        answered: stats.answered,
        limited: stats.limited,
        pauses: stats.pauses.length,
        sentDuringPause: stats.sentDuringPause,
        sentDuringPauseAll: stats.sentDuringPauseAll,
        quietCalls: quietDurations.length,
        quietP50Ms: sortedP(quietDurations, 0.5),
        quietP99Ms: sortedP(quietDurations, 0.99),
        floodCalls: results.reduce((n, result) => n + (result.tenants[FLOODER]?.ok ?? 0), 0),
        failures,
      };
      return run;
    };
    const floodOverBudgetPaced = await fleet('flood-over-budget-paced', [flooding, ...quiet], true, seconds, true);
    // A quick run only checks that the fleet runs: one boot of the processes, not four.
    const floodOverBudget = quick
      ? floodOverBudgetPaced
      : await fleet('flood-over-budget', [flooding, ...quiet], true, seconds);
    const alone = quick ? floodOverBudgetPaced : await fleet('alone', quiet, true, 15);
    const flood = quick ? floodOverBudgetPaced : await fleet('flood', [flooding, ...quiet], false, 15);
    /** The budget over a run's span at the window's rate. */
    const budgetOf = (run: ApiFleetRun): number => (appPoints * run.spanSeconds * 1000) / windowMs;
    return {
      processes: PROCESSES,
      tenants: TENANTS,
      appPoints,
      windowSeconds: windowMs / 1000,
      graceMs: GRACE_MS,
      pacedPerProcess,
      alone,
      flood,
      floodOverBudget,
      floodOverBudgetPaced,
      goodputShare: round(floodOverBudgetPaced.answered / budgetOf(floodOverBudgetPaced), 3),
      goodputShareUnpaced: round(floodOverBudget.answered / budgetOf(floodOverBudget), 3),
      quietP99RatioFlood: round(flood.quietP99Ms / alone.quietP99Ms, 2),
      quietP99RatioBudget: round(floodOverBudgetPaced.quietP99Ms / alone.quietP99Ms, 2),
      quietP99RatioBudgetUnpaced: round(floodOverBudget.quietP99Ms / alone.quietP99Ms, 2),
    };
  } finally {
    await database.close();
    await server.stop();
  }
}

/** Runs both parts and writes their results (and, for a full run into the committed results, the docs table). */
export async function runApiClientBench(
  quick: boolean,
  outDir: string,
  committed: boolean,
): Promise<ApiClientBenchResult> {
  const startedAt = new Date().toISOString();
  process.stderr.write('bench: api client, request vs raw fetch\n');
  const latency = await runLatency(quick);
  const budget = await runBudget(quick);
  const result: ApiClientBenchResult = { quick, startedAt, latency, budget };
  writeFileSync(join(outDir, 'api-client.json'), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = renderApiClient(result);
  writeFileSync(join(outDir, 'api-client.md'), `${markdown}\n`);
  if (!quick && committed && writeReadmeBlock('apiClient', markdown)) {
    process.stderr.write('bench: updated the api client table in docs/performance.md\n');
  }
  return result;
}

const met = (ok: boolean): string => (ok ? 'met' : '**not met**');

/** The markdown table of the results with their targets. */
export function renderApiClient(result: ApiClientBenchResult): string {
  const { latency, budget } = result;
  const b = budget.floodOverBudget;
  const paced = budget.floodOverBudgetPaced;
  const ceiling = `\`ATLASSIAN_API_MAX_REQUESTS_PER_SECOND=${budget.pacedPerProcess}\` in each process (${PACED_SHARE * 100}% of the budget)`;
  const rows: [string, string, string, string][] = [
    [
      '`request` p50 vs raw `fetch` p50 (fixed token, local server answering at once)',
      `${latency.requestP50Ms} ms vs ${latency.fetchP50Ms} ms = ${latency.p50Ratio}x (p99 ${latency.requestP99Ms} vs ${latency.fetchP99Ms} ms; ${latency.calls} calls each)`,
      '<= 1.2x',
      met(latency.p50Ratio <= 1.2),
    ],
    [
      '`request` p50 vs a raw undici `request` p50 (the transport the client sends with; no target)',
      `${latency.requestP50Ms} ms vs ${latency.undiciP50Ms} ms = ${latency.p50RatioUndici}x`,
      '-',
      'shown',
    ],
    [
      `requests the stand-in received during app pauses, more than ${budget.graceMs} ms after each began (the flood over the app budget, no ceiling)`,
      `${b.sentDuringPause} (${b.sentDuringPauseAll} within the first ${budget.graceMs} ms; ${b.pauses} pauses)`,
      '0',
      met(b.sentDuringPause === 0),
    ],
    [
      `goodput: answered calls / app budget (${budget.appPoints} points per ${budget.windowSeconds} s, over the run's ${paced.spanSeconds} s: ${paced.seconds} s of calls, then the last ones finishing), ${ceiling}`,
      `${paced.answered} = ${round(budget.goodputShare * 100, 1)}% (${paced.limited} answered 429, ${paced.pauses} pauses; no ceiling: ${b.answered} = ${round(budget.goodputShareUnpaced * 100, 1)}%)`,
      '>= 90%',
      met(budget.goodputShare >= 0.9),
    ],
    [
      'quiet tenants p99 with the flood, no budget, vs alone',
      `${budget.flood.quietP99Ms} ms vs ${budget.alone.quietP99Ms} ms = ${budget.quietP99RatioFlood}x`,
      '<= 2x',
      met(budget.quietP99RatioFlood <= 2),
    ],
    [
      `quiet tenants p99 with the flood over the app budget vs alone, ${ceiling}`,
      `${paced.quietP99Ms} ms vs ${budget.alone.quietP99Ms} ms = ${budget.quietP99RatioBudget}x`,
      '<= 2x',
      met(budget.quietP99RatioBudget <= 2),
    ],
    [
      'quiet tenants p99 with the flood over the app budget vs alone, no ceiling (every tenant waits out the app-wide pauses; no target)',
      `${b.quietP99Ms} ms vs ${budget.alone.quietP99Ms} ms = ${budget.quietP99RatioBudgetUnpaced}x`,
      '-',
      'shown',
    ],
  ];
  return [
    `### AtlassianApiClient${result.quick ? ' (quick run: proves nothing)' : ''}`,
    '',
    `${budget.processes} processes on one SQLite file, ${budget.tenants} tenants (19 quiet: 1 caller each per process, a call a second; \`${FLOODER}\` floods: 8 callers per process, no pause), against the test server's REST gateway stand-in. Run ${result.startedAt}.`,
    '',
    '| measure | result | target | |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}
