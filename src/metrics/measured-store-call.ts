import { AgentCoreMetrics } from './agent-core-metrics';

/** A store that may have been given the application's metrics (optional: a store works without them). */
export interface MeasuredStore {
  readonly metrics?: AgentCoreMetrics | null;
}

/**
 * Method decorator for a store's public async methods: records each call's duration in
 * `agent_core_store_call_duration_seconds` under the method's name, with `outcome` `ok` or
 * `error`, through the instance's own {@link MeasuredStore.metrics}. Without metrics the method
 * runs exactly as it would undecorated; what it resolves or rejects with is never changed.
 *
 * One decorator rather than timing code in each method, so the store's methods keep doing only
 * their own job; the label is the method's name and never one of its arguments.
 */
export function MeasuredStoreCall(): (
  target: MeasuredStore,
  name: string | symbol,
  descriptor: PropertyDescriptor,
) => void {
  return (_target, name, descriptor) => {
    const method = descriptor.value as unknown;
    if (typeof method !== 'function') {
      throw new TypeError('@MeasuredStoreCall() decorates methods only');
    }
    const label = String(name);
    const measured = async function (this: MeasuredStore, ...args: unknown[]): Promise<unknown> {
      const metrics = this.metrics;
      if (!metrics) {
        return (method as (...args: unknown[]) => Promise<unknown>).apply(this, args);
      }
      const started = process.hrtime.bigint();
      let outcome: 'ok' | 'error' = 'error';
      try {
        const result: unknown = await (method as (...args: unknown[]) => Promise<unknown>).apply(this, args);
        outcome = 'ok';
        return result;
      } finally {
        metrics.storeCall(label, outcome, Number(process.hrtime.bigint() - started) / 1e9);
      }
    };
    Object.defineProperty(measured, 'name', { value: (method as { name: string }).name });
    descriptor.value = measured;
  };
}
