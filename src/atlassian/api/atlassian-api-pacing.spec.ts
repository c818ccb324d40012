import { AtlassianApiPacer } from './atlassian-api-pacing';

/** A signal that never aborts (one per call, as the client's calls have). */
const never = () => new AbortController().signal;

/** Asks for `count` turns of `tenant` and records, in `order`, each one as it is granted. */
function ask(pacer: AtlassianApiPacer, tenant: string, count: number, order: string[], signal?: AbortSignal) {
  return Array.from({ length: count }, () => pacer.turn(tenant, signal ?? never()).then(() => order.push(tenant)));
}

/** Lets the promise callbacks that are due run (no timer fires meanwhile). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe(AtlassianApiPacer.name, () => {
  it('refuses a rate that is not a finite number above 0, and a burst that is not a whole number from 1', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new AtlassianApiPacer(rate)).toThrow(/ratePerSecond/);
    }
    for (const burst of [0, 1.5, -2]) {
      expect(() => new AtlassianApiPacer(10, burst)).toThrow(/burst/);
    }
  });

  it('serves the waiting tenants in turn: a tenant with one call waits for one call of each other tenant, not for a flood', async () => {
    const pacer = new AtlassianApiPacer(200, 1);
    const order: string[] = [];
    const flood = ask(pacer, 'flood', 6, order);
    const quiet = ask(pacer, 'quiet', 1, order);
    const other = ask(pacer, 'other', 2, order);

    await Promise.all([...flood, ...quiet, ...other]);

    // The first flood call goes at once; then one call of each waiting tenant per round.
    expect(order).toEqual(['flood', 'flood', 'quiet', 'other', 'flood', 'other', 'flood', 'flood', 'flood']);
    expect(pacer.queued).toBe(0);
  });

  it('without a burst, never lets two calls go closer together than 1 / rate', async () => {
    const pacer = new AtlassianApiPacer(50, 1);
    const at: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        pacer.turn(`tenant-${i % 2}`, never()).then(() => at.push(performance.now())),
      ),
    );

    const gaps = at.slice(1).map((time, i) => time - (at[i] as number));
    // 20 ms apart at 50 a second; a timer may fire late, never early (1 ms of timer rounding allowed).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(19);
  });

  it('lets a quiet tenant use the burst at once while a flooding tenant waits for the pace; the flood never uses it', async () => {
    const pacer = new AtlassianApiPacer(20, 3);
    const order: string[] = [];
    const flood = ask(pacer, 'flood', 8, order);
    await settle();

    // The first three went within the burst; the other five wait for the pace.
    expect(order).toEqual(['flood', 'flood', 'flood']);
    expect(pacer.queued).toBe(5);

    // Once the burst is paid back (3 intervals of 50 ms) and a flood call went at the pace, the
    // burst is there again for a tenant's only call: it goes without waiting for the next flood call.
    await new Promise((resolve) => setTimeout(resolve, 220));
    const floodSoFar = order.length;
    const quiet = ask(pacer, 'quiet', 1, order);
    await settle();

    expect(order.slice(floodSoFar)).toEqual(['quiet']);
    await Promise.all([...flood, ...quiet]);
    expect(order.filter((tenant) => tenant === 'flood')).toHaveLength(8);
  });

  it('sends at most burst + elapsed * rate calls', async () => {
    const pacer = new AtlassianApiPacer(50, 5);
    const started = performance.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => pacer.turn(i % 3 === 0 ? 'a' : 'b', never())));

    // 5 at once, the other 15 one every 20 ms: never sooner (1 ms of timer rounding allowed).
    expect(performance.now() - started).toBeGreaterThanOrEqual(15 * 20 - 1);
  });

  it('an aborted call gives up its place with the signal reason, and the others are still served', async () => {
    const pacer = new AtlassianApiPacer(100, 1);
    const order: string[] = [];
    const controller = new AbortController();
    const first = ask(pacer, 'a', 1, order);
    const given = pacer.turn('b', controller.signal);
    const after = ask(pacer, 'c', 1, order);
    const reason = new Error('caller gave up');

    controller.abort(reason);

    await expect(given).rejects.toBe(reason);
    await Promise.all([...first, ...after]);
    expect(order).toEqual(['a', 'c']);
    expect(pacer.queued).toBe(0);
  });

  it('rejects at once for a signal that has already aborted', async () => {
    const pacer = new AtlassianApiPacer(1);
    const controller = new AbortController();
    controller.abort(new Error('already'));

    await expect(pacer.turn('a', controller.signal)).rejects.toThrow('already');
  });
});
