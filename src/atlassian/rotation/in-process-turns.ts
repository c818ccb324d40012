import { AtlassianOauthStateKey, stateKeyId } from '../atlassian-oauth-state.types';

/**
 * First-come, first-served turns per key within one process, so that of N concurrent callers
 * only the one whose turn it is polls the database; the others wait in memory.
 */
export class InProcessTurns {
  private readonly tails = new Map<string, Promise<void>>();

  /** Whether a caller of this process holds or waits for the turn on `key` now. */
  busy(key: AtlassianOauthStateKey): boolean {
    return this.tails.has(stateKeyId(key));
  }

  /**
   * Waits for the turn on `key` until `deadline` (epoch ms).
   *
   * @returns the function that ends the turn (call it exactly once, also on failure), or `null`
   *   when the deadline passed first; the place in the queue is then given up.
   */
  async take(key: AtlassianOauthStateKey, deadline: number): Promise<(() => void) | null> {
    const id = stateKeyId(key);
    const previous = this.tails.get(id) ?? Promise.resolve();
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const tail = previous.then(() => ended);
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) {
        this.tails.delete(id);
      }
    });

    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>(
      (resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))),
    );
    const turn = await Promise.race([previous.then(() => true), expired]);
    clearTimeout(timer);
    if (!turn) {
      end();
      return null;
    }
    return end;
  }
}
