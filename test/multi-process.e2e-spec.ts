import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorker, runWorkerForResult } from './support/store-processes';
import { RaceOutcome, ReadResult, WriteResult } from './support/store-worker';

const PROCESSES = 4;
const ITERATIONS = 200;
const TENANTS = ['tenant-0', 'tenant-1', 'tenant-2'];
const RACERS_PER_PROCESS = 5;
/** Time for every process to boot, so that all of them start their calls together. */
const BOOT_MS = 5_000;

describe('several processes on one SQLite file', () => {
  let dir: string;
  let databasePath: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-processes-'));
    databasePath = join(dir, 'agent-core.sqlite');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const read = (tenantId: string) => runWorkerForResult<ReadResult>(databasePath, 'read', { tenantId });

  it(`${PROCESSES} writers x ${ITERATIONS} upserts on overlapping keys: no call fails, one row per key, a last write wins`, async () => {
    const startAt = Date.now() + BOOT_MS;
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, (_, worker) =>
        runWorkerForResult<WriteResult>(databasePath, 'write', {
          worker,
          tenants: TENANTS,
          iterations: ITERATIONS,
          startAt,
        }),
      ),
    );

    for (const tenantId of TENANTS) {
      const lastWrites = results.map((last) => last[tenantId]);
      const stored = await read(tenantId);
      expect(lastWrites).toContain(stored?.refreshToken);
      expect(stored?.accessToken).toBe(`access-${stored?.refreshToken}`);
    }
    const counts = await runWorkerForResult<Record<string, number>>(databasePath, 'count', {});
    expect(counts).toEqual({ rows: TENANTS.length });
  });

  it(`rotation race: ${PROCESSES} processes x ${RACERS_PER_PROCESS} callers holding one refresh token, exactly one wins`, async () => {
    await runWorkerForResult(databasePath, 'write', { worker: 0, tenants: ['racy'], iterations: 1 });
    const seeded = await read('racy');
    const startAt = Date.now() + BOOT_MS;

    const outcomes = (
      await Promise.all(
        Array.from({ length: PROCESSES }, (_, worker) =>
          runWorkerForResult<RaceOutcome[]>(databasePath, 'race', {
            worker,
            tenantId: 'racy',
            expected: seeded?.refreshToken,
            concurrency: RACERS_PER_PROCESS,
            startAt,
          }),
        ),
      )
    ).flat();

    const winners = outcomes.flatMap((o) => ('won' in o ? [o.won] : []));
    expect(winners).toHaveLength(1);
    const losers = outcomes.filter((o) => 'lost' in o);
    expect(losers).toHaveLength(PROCESSES * RACERS_PER_PROCESS - 1);
    expect(losers.map((o) => ('current' in o ? o.current : undefined))).toEqual(losers.map(() => winners[0]));
    await expect(read('racy')).resolves.toMatchObject({ refreshToken: winners[0] });
  });

  it('a write that resolved survives the process being killed with SIGKILL right after', async () => {
    const crashed = await runWorker(databasePath, 'crash', { tenantId: 'crashy', refreshToken: 'refresh-before-kill' });

    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.stdout).toContain('"resolved"');
    await expect(read('crashy')).resolves.toEqual({ refreshToken: 'refresh-before-kill', accessToken: null });
  });
});
