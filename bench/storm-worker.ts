/**
 * One process of the refresh storm (bench/lib/storm.ts), started with its job as JSON in argv[2].
 * Boots the application on the storm's database against the local token endpoint, seeds the grants
 * if it is the first, answers `ready`, then runs what the parent asks (`storm`, `upsert`) and
 * answers each with its measurements.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { AtlassianOauthClient, AtlassianOauthStateEntity } from '../src/atlassian';
import { bootBenchApp, BenchApp } from './lib/app';
import {
  STORM_PLATFORM,
  StormJob,
  StormReply,
  StormRequest,
  StormUpsertResult,
  StormWorkerResult,
  stormRefreshToken,
  stormTenant,
} from './lib/storm';

const SEED_BATCH = 500;
/** The grants' access tokens expire within the minute after seeding: `accessToken` (60 s minimum validity by default) refreshes every one. */
const EXPIRY_SPREAD_MS = 60_000;

/** What one `accessToken` call did, gathered across its awaits. */
interface CallContext {
  endpointNs: number;
  refreshed: boolean;
  statements: string[];
}

const calls = new AsyncLocalStorage<CallContext>();

const send = (reply: StormReply): void => {
  process.send?.(reply);
};

/** `INSERT atlassian_oauth_refresh_lease`, `SELECT atlassian_oauth_state`, `COMMIT`: a statement's kind, without its values. */
function kindOf(sql: string): string {
  const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? '?';
  const table = /(?:FROM|INTO|UPDATE)\s+["`]?(\w+)/i.exec(sql)?.[1];
  return table === undefined ? verb : `${verb} ${table}`;
}

async function seed(app: BenchApp, grants: number): Promise<void> {
  const states = app.dataSource.getRepository(AtlassianOauthStateEntity);
  const now = Date.now();
  for (let from = 0; from < grants; from += SEED_BATCH) {
    const rows = Array.from({ length: Math.min(SEED_BATCH, grants - from) }, (_, i) => {
      const grant = from + i;
      return {
        id: randomUUID(),
        platform: STORM_PLATFORM,
        tenantId: stormTenant(grant),
        accessToken: `storm-access-${grant}-0`,
        refreshToken: stormRefreshToken(grant, 0),
        expiresAt: new Date(now + Math.floor((grant / grants) * EXPIRY_SPREAD_MS)),
        updatedAt: new Date(now),
      };
    });
    await states.insert(rows);
  }
}

/** `callers` concurrent loops over `work` until every index below `count` is taken. */
async function concurrently(callers: number, count: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        await work(next++);
      }
    }),
  );
}

async function storm(app: BenchApp, job: StormJob): Promise<StormWorkerResult> {
  const latenciesUs = new Array<number>(job.grants).fill(0);
  const errors: Record<string, number> = {};
  const refreshStatements: Record<string, number> = {};
  let refreshes = 0;
  let refreshCallNs = 0;
  let refreshEndpointNs = 0;
  let statements = 0;
  app.recorder.onQuery = (sql) => {
    statements += 1;
    calls.getStore()?.statements.push(sql);
  };
  const startedAtMs = Date.now();
  await concurrently(job.callers, job.grants, async (grant) => {
    const context: CallContext = { endpointNs: 0, refreshed: false, statements: [] };
    const started = process.hrtime.bigint();
    try {
      await calls.run(context, () => app.tokens.accessToken(STORM_PLATFORM, stormTenant(grant)));
    } catch (error) {
      const name = error instanceof Error ? error.name : 'unknown';
      errors[name] = (errors[name] ?? 0) + 1;
    }
    const ns = Number(process.hrtime.bigint() - started);
    latenciesUs[grant] = ns / 1e3;
    if (context.refreshed) {
      refreshes += 1;
      refreshCallNs += ns;
      refreshEndpointNs += context.endpointNs;
      for (const sql of context.statements) {
        const kind = kindOf(sql);
        refreshStatements[kind] = (refreshStatements[kind] ?? 0) + 1;
      }
    }
  });
  const endedAtMs = Date.now();
  app.recorder.onQuery = undefined;
  return {
    startedAtMs,
    endedAtMs,
    latenciesUs,
    refreshes,
    refreshCallUs: refreshCallNs / 1e3,
    refreshEndpointUs: refreshEndpointNs / 1e3,
    refreshStatements,
    statements,
    errors,
  };
}

/** `repo.upsert` of this worker's share of the grants (every `processes`-th), with as many callers as the storm. */
async function upserts(app: BenchApp, job: StormJob): Promise<StormUpsertResult> {
  const mine = Array.from(
    { length: Math.ceil((job.grants - job.index) / job.processes) },
    (_, k) => job.index + k * job.processes,
  );
  const latenciesUs = new Array<number>(mine.length).fill(0);
  let statements = 0;
  app.recorder.onQuery = () => {
    statements += 1;
  };
  const expiresAt = new Date(Date.now() + 3_600_000);
  await concurrently(job.callers, mine.length, async (k) => {
    const grant = mine[k] as number;
    const started = process.hrtime.bigint();
    await app.repo.upsert(STORM_PLATFORM, stormTenant(grant), {
      accessToken: `upsert-access-${grant}`,
      refreshToken: `upsert-refresh-${grant}`,
      expiresAt,
    });
    latenciesUs[k] = Number(process.hrtime.bigint() - started) / 1e3;
  });
  app.recorder.onQuery = undefined;
  return { latenciesUs, statements };
}

const exitWithParent = (): never => process.exit(1);

async function main(): Promise<void> {
  // A parent that died leaves nobody to tell this process to stop.
  process.once('disconnect', exitWithParent);
  const job = JSON.parse(process.argv[2] ?? '{}') as StormJob;
  // 32 callers on a shared 2-core machine can queue a statement past the 5 s default: a storm
  // measures how long calls take, and a query abandoned by its timeout would measure nothing.
  process.env.DATABASE_QUERY_TIMEOUT_MS ??= '60000';
  const app = await bootBenchApp(job.database, job.tokenUrl);
  // Times what each call awaits from the token endpoint: the client is the one the token service holds.
  const client = app.context.get(AtlassianOauthClient);
  const refresh = client.refresh.bind(client);
  client.refresh = async (refreshToken: string) => {
    const context = calls.getStore();
    const started = process.hrtime.bigint();
    try {
      const tokens = await refresh(refreshToken);
      if (context) {
        context.refreshed = true;
      }
      return tokens;
    } finally {
      if (context) {
        context.endpointNs += Number(process.hrtime.bigint() - started);
      }
    }
  };
  try {
    if (job.seed) {
      await seed(app, job.grants);
    }
    send({ type: 'ready' });
    for (;;) {
      const request = await new Promise<StormRequest>((resolve) => process.once('message', resolve));
      if (request.type === 'exit') {
        break;
      }
      if (request.type === 'storm') {
        send({ type: 'storm', result: await storm(app, job) });
      } else {
        send({ type: 'upsert', result: await upserts(app, job) });
      }
    }
  } finally {
    await app.context.close();
    // The 'disconnect' listener above keeps the IPC channel, and so this process, alive: let go of it.
    process.off('disconnect', exitWithParent);
    process.disconnect?.();
  }
}

main().catch((error: unknown) => {
  send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
});
