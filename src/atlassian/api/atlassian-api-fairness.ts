import PQueue from 'p-queue';
import { stateKeyId } from '../atlassian-oauth-state.types';

/**
 * At most `concurrency` calls in flight per `(platform, tenantId)` in this process, in the order
 * they came (one p-queue per tenant seen, kept: a few hundred bytes each): one tenant's burst
 * queues behind itself instead of taking every socket from the others.
 */
export class PerTenantConcurrency {
  private readonly queues = new Map<string, PQueue>();

  constructor(private readonly concurrency: number) {}

  /**
   * Runs `task` once one of the tenant's slots is free. When `signal` aborts first, `task` never
   * runs and the call rejects with the signal's reason.
   */
  async run<T>(platform: string, tenantId: string, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    const key = stateKeyId({ platform, tenantId });
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = new PQueue({ concurrency: this.concurrency });
      this.queues.set(key, queue);
    }
    let abandoned = false;
    const queued = queue.add(async () => {
      if (abandoned) {
        return undefined;
      }
      return { value: await task() };
    });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => {
        abandoned = true;
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([queued, aborted]);
      if (result === undefined) {
        throw signal.reason;
      }
      return result.value;
    } finally {
      if (onAbort) {
        signal.removeEventListener('abort', onAbort);
      }
    }
  }
}
