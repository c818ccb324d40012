import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';

/** Calls `call` back to back until `until` resolves; counts them and keeps the errors' classes and codes. */
export async function hammer(call: () => Promise<unknown>, until: Promise<unknown>) {
  let done = false;
  void until.finally(() => (done = true));
  const seen = {
    attempted: 0,
    failed: 0,
    classes: new Set<string>(),
    codes: new Set<string>(),
    messages: [] as string[],
  };
  while (!done) {
    seen.attempted++;
    try {
      await call();
    } catch (error) {
      seen.failed++;
      seen.classes.add((error as Error).name);
      seen.codes.add(String((error as { code?: unknown }).code));
      seen.messages.push((error as Error).message);
    }
    // A call that fails without I/O would otherwise starve the timers that end the fault.
    await yieldToEventLoop();
  }
  return seen;
}

/** Resolves with how long it took until `call` succeeds again. */
export async function timeToRecover(call: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await call();
      return Date.now() - started;
    } catch {
      await sleep(20);
    }
  }
}
