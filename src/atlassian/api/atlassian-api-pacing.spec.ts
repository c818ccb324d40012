import { AtlassianApiPacer } from './atlassian-api-pacing';

/** Asks for `count` turns of `tenant` and records, in `order`, each one as it is granted. */
function ask(
  pacer: AtlassianApiPacer,
  tenant: string,
  count: number,
  order: string[],
  signal = new AbortController().signal,
) {
  return Array.from({ length: count }, () => pacer.turn(tenant, signal).then(() => order.push(tenant)));
}

describe(AtlassianApiPacer.name, () => {
  it('refuses a rate that is not a finite number above 0', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new AtlassianApiPacer(rate)).toThrow(/ratePerSecond/);
    }
  });

  it('serves the waiting tenants in turn: a tenant with one call waits for one call of each other tenant, not for a flood', async () => {
    const pacer = new AtlassianApiPacer(200);
    const order: string[] = [];
    const flood = ask(pacer, 'flood', 6, order);
    const quiet = ask(pacer, 'quiet', 1, order);
    const other = ask(pacer, 'other', 2, order);

    await Promise.all([...flood, ...quiet, ...other]);

    // The first flood call goes at once; then one call of each waiting tenant per round.
    expect(order).toEqual(['flood', 'flood', 'quiet', 'other', 'flood', 'other', 'flood', 'flood', 'flood']);
    expect(pacer.queued).toBe(0);
  });

  it('never lets two calls go closer together than 1 / rate', async () => {
    const pacer = new AtlassianApiPacer(50);
    const at: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        pacer.turn(`tenant-${i % 2}`, new AbortController().signal).then(() => at.push(performance.now())),
      ),
    );

    const gaps = at.slice(1).map((time, i) => time - (at[i] as number));
    // 20 ms apart at 50 a second; a timer may fire late, never early (1 ms of timer rounding allowed).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(19);
  });

  it('an aborted call gives up its place with the signal reason, and the others are still served', async () => {
    const pacer = new AtlassianApiPacer(100);
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
