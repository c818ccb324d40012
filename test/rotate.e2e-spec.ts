import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateRepo } from '../src/atlassian';
import { SharedDatabase, openFileDatabase, openFreshServerDatabase } from './support/file-database';
import { SERVERS_UNDER_TEST, describeOnServer } from './support/server-databases';
import { PLATFORM, resultOf, runWorkerForResult, startWorker } from './support/store-processes';
import type {
  RefreshRecord,
  RotateLoopArgs,
  RotateLoopResult,
  RotateOnceArgs,
  RotateOnceResult,
} from './support/store-worker';

const PROCESSES = 4;
const CALLERS_PER_PROCESS = 4;
/** Time for every process to boot, so that all of them start their calls together. */
const BOOT_MS = 5_000;
const TENANT = 'tenant-rotating';
const SEED = 'seed-refresh-token';

/** Counts and waiting times of one multi-process run; never a token value. */
interface RunSummary {
  processes: number;
  callersPerProcess: number;
  calls: number;
  refreshes: number;
  waitedMs: { mean: number; p50: number; p95: number; max: number };
}

function summarize(results: RotateLoopResult[]): RunSummary {
  const calls = results.flatMap((r) => r.calls);
  const waits = calls.map((c) => c.waitedMs).sort((a, b) => a - b);
  const at = (q: number): number => waits[Math.min(waits.length - 1, Math.floor(q * waits.length))] ?? 0;
  return {
    processes: results.length,
    callersPerProcess: CALLERS_PER_PROCESS,
    calls: calls.length,
    refreshes: results.reduce((n, r) => n + r.refreshes.length, 0),
    waitedMs: {
      mean: Math.round(waits.reduce((a, b) => a + b, 0) / Math.max(1, waits.length)),
      p50: at(0.5),
      p95: at(0.95),
      max: at(1),
    },
  };
}

/** The refreshes of all processes in the order they ran; fails if any two were in flight at once. */
function inOrderWithoutOverlap(results: RotateLoopResult[]): RefreshRecord[] {
  const refreshes = results.flatMap((r) => r.refreshes).sort((a, b) => a.start - b.start || a.end - b.end);
  const overlapping = refreshes.slice(1).filter((next, i) => next.start < (refreshes[i]?.end ?? 0));
  expect(overlapping).toEqual([]);
  return refreshes;
}

/** Fails unless each refresh was given the refresh token the previous one returned, starting from `first`, none twice. */
function expectUnbrokenChain(refreshes: RefreshRecord[], first: string): void {
  const received = refreshes.map((r) => r.received);
  expect(received).toEqual([first, ...refreshes.slice(0, -1).map((r) => r.returned)]);
  expect(new Set(received).size).toBe(received.length);
}

/** The multi-process suite, on each fresh database that `open` gives; `engine` labels what it prints. */
const rotateAcrossProcesses = (engine: string, open: () => Promise<SharedDatabase>) => () => {
  /** This test's own connection to the shared database: seeds the state and inspects it, without a process boot each time. */
  let database: SharedDatabase;
  let databaseTarget: string;
  let states: AtlassianOauthStateRepo;

  beforeEach(async () => {
    database = await open();
    databaseTarget = database.target;
    states = database.moduleRef.get(AtlassianOauthStateRepo);
    await states.upsert(PLATFORM, TENANT, { refreshToken: SEED });
  });

  afterEach(async () => {
    await database.close();
  });

  const read = () => states.get(PLATFORM, TENANT);
  const leases = () =>
    database.moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianOauthRefreshLeaseEntity).find();
  const loop = (
    args: Omit<RotateLoopArgs, 'worker' | 'tenantId' | 'callers' | 'startAt'>,
  ): Promise<RotateLoopResult[]> => {
    const startAt = Date.now() + BOOT_MS;
    return Promise.all(
      Array.from({ length: PROCESSES }, (_, worker) =>
        runWorkerForResult<RotateLoopResult>(databaseTarget, 'rotate-loop', {
          ...args,
          worker,
          tenantId: TENANT,
          callers: CALLERS_PER_PROCESS,
          startAt,
        }),
      ),
    );
  };
  const once = (args: Omit<RotateOnceArgs, 'tenantId'>) =>
    startWorker(databaseTarget, 'rotate-once', { ...args, tenantId: TENANT });
  /** A holder and a caller that starts once the holder has the lease, both booted before either starts. */
  const holderAndWaiter = (
    holder: Omit<RotateOnceArgs, 'tenantId' | 'startAt'>,
    waiter: Omit<RotateOnceArgs, 'tenantId' | 'startAt' | 'afterLease'>,
  ) => {
    const startAt = Date.now() + BOOT_MS;
    return [once({ ...holder, startAt }), once({ ...waiter, startAt, afterLease: true })] as const;
  };

  it(`${PROCESSES} processes x ${CALLERS_PER_PROCESS} callers rotating a short-lived token: never two refreshes at once, every call gets the newest token`, async () => {
    const results = await loop({
      iterations: 40,
      refreshMs: 20,
      validityMs: 100,
      maxPauseMs: 40,
      options: { minValidityMs: 0, leaseMs: 10_000, waitMs: 30_000 },
    });

    const refreshes = inOrderWithoutOverlap(results);
    expectUnbrokenChain(refreshes, SEED);
    const chain = [SEED, ...refreshes.map((r) => r.returned)];
    const calls = results.flatMap((r) => r.calls);
    expect(calls).toHaveLength(PROCESSES * CALLERS_PER_PROCESS * 40);
    // Newest: the token a call got was issued before the call ended, and the refresh that replaced
    // it (if any) had not started when the call started.
    const stale = calls.filter((call) => {
      const index = chain.indexOf(call.refreshToken);
      const issuedBy = refreshes[index - 1];
      const replacedBy = refreshes[index];
      return (
        index < 0 ||
        (issuedBy !== undefined && issuedBy.end > call.end) ||
        (replacedBy !== undefined && replacedBy.start < call.start)
      );
    });
    expect(stale).toEqual([]);
    expect(refreshes.length).toBeGreaterThan(1);
    expect(calls.filter((c) => !c.refreshed).length).toBeGreaterThan(0);
    await expect(read()).resolves.toMatchObject({ refreshToken: chain[chain.length - 1] });
    await expect(leases()).resolves.toEqual([]);

    console.log(`rotate on ${engine}, short-lived token: ${JSON.stringify(summarize(results))}`);
  });

  it(`forced refreshes of ${PROCESSES} processes x ${CALLERS_PER_PROCESS} callers form one unbroken chain of refresh tokens`, async () => {
    const results = await loop({
      iterations: 3,
      refreshMs: 5,
      validityMs: 3_600_000,
      maxPauseMs: 10,
      options: { minValidityMs: Number.MAX_SAFE_INTEGER, leaseMs: 10_000, waitMs: 30_000 },
    });

    const refreshes = inOrderWithoutOverlap(results);
    expectUnbrokenChain(refreshes, SEED);
    const calls = results.flatMap((r) => r.calls);
    expect(refreshes).toHaveLength(PROCESSES * CALLERS_PER_PROCESS * 3);
    expect(calls.every((c) => c.refreshed)).toBe(true);
    await expect(read()).resolves.toMatchObject({ refreshToken: refreshes[refreshes.length - 1]?.returned });
    await expect(leases()).resolves.toEqual([]);

    console.log(`rotate on ${engine}, forced refresh: ${JSON.stringify(summarize(results))}`);
  });

  it('a holder killed with SIGKILL mid-refresh blocks the others only until its lease lapses', async () => {
    const leaseMs = 2_000;
    const [victim, successor] = holderAndWaiter(
      { newRefreshToken: 'never-stored', holdMs: null, options: { leaseMs } },
      { newRefreshToken: 'after-takeover', holdMs: 0, options: { leaseMs, waitMs: 20_000 } },
    );

    const { leaseExpiresAt } = await victim.event<{ leaseExpiresAt: number }>('refreshing');
    victim.kill('SIGKILL');
    await expect(victim.exit).resolves.toMatchObject({ signal: 'SIGKILL' });
    const taken = await resultOf<RotateOnceResult>(successor.exit, 'rotate-once');

    expect(taken).toMatchObject({ refreshToken: 'after-takeover', refresh: { received: SEED } });
    if ('refresh' in taken) {
      expect(taken.start).toBeLessThan(leaseExpiresAt);
      expect(taken.refresh?.start).toBeGreaterThanOrEqual(leaseExpiresAt);
      console.log(
        `rotate on ${engine}, SIGKILLed holder: the successor waited ${(taken.refresh?.start ?? 0) - taken.start} ms for a lease of ${leaseMs} ms to lapse`,
      );
    }
    await expect(read()).resolves.toMatchObject({ refreshToken: 'after-takeover' });
    await expect(leases()).resolves.toEqual([]);
  });

  it('a throwing refresh releases the lease at once and leaves the state unchanged', async () => {
    const before = await read();

    const failed = await resultOf<RotateOnceResult>(
      once({ newRefreshToken: 'never-stored', holdMs: 0, fail: true, options: {} }).exit,
      'rotate-once',
    );

    expect(failed).toEqual({
      error: {
        name: 'AtlassianOauthRefreshFailedError',
        message: expect.not.stringContaining(SEED),
        causeMessage: expect.stringContaining('invalid_grant'),
        refreshCalled: true,
      },
    });
    await expect(read()).resolves.toEqual(before);
    await expect(leases()).resolves.toEqual([]);
    // Released rather than lapsed (the default lease is 30 s): the next caller need not wait at all.
    const next = await resultOf<RotateOnceResult>(
      once({ newRefreshToken: 'next', holdMs: 0, options: { waitMs: 0 } }).exit,
      'rotate-once',
    );
    expect(next).toMatchObject({ refreshToken: 'next', refresh: { received: SEED } });
  });

  it('a caller waiting longer than waitMs for another process rejects with a timeout and writes nothing', async () => {
    const [holder, waiter] = holderAndWaiter(
      { newRefreshToken: 'never-stored', holdMs: null, options: { leaseMs: 20_000 } },
      { newRefreshToken: 'never-stored', holdMs: 0, options: { waitMs: 500 } },
    );

    const timedOut = await resultOf<RotateOnceResult>(waiter.exit, 'rotate-once');
    holder.kill('SIGKILL');
    await holder.exit;

    expect(timedOut).toEqual({
      error: {
        name: 'AtlassianOauthRotateTimeoutError',
        message: expect.stringContaining('500 ms'),
        causeMessage: null,
        refreshCalled: false,
      },
    });
    await expect(read()).resolves.toMatchObject({ refreshToken: SEED });
  });
};

describe(
  'rotate: single-flight refresh across processes on one SQLite file',
  rotateAcrossProcesses('SQLite', () => openFileDatabase('agent-core-rotate-')),
);

for (const server of SERVERS_UNDER_TEST) {
  describeOnServer(server, 'rotate: single-flight refresh across processes', (adminUrl) => {
    describe(
      'sharing one server database',
      rotateAcrossProcesses(server.label, () => openFreshServerDatabase(adminUrl)),
    );
  });
}
