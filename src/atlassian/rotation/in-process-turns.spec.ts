import { setTimeout as sleep } from 'node:timers/promises';
import { AtlassianOauthStateKey } from '../atlassian-oauth-state.types';
import { InProcessTurns } from './in-process-turns';

const KEY: AtlassianOauthStateKey = { platform: 'jira', tenantId: 'tenant-a' };

describe(InProcessTurns.name, () => {
  it('serves callers of one key one at a time, first come first served, and other keys independently', async () => {
    const sut = new InProcessTurns();
    const log: string[] = [];
    const take = async (name: string, key: AtlassianOauthStateKey) => {
      const end = await sut.take(key, Date.now() + 1_000);
      log.push(`${name}+`);
      await sleep(5);
      log.push(`${name}-`);
      end?.();
    };

    await Promise.all([
      take('a', KEY),
      take('b', KEY),
      take('other', { ...KEY, tenantId: 'tenant-b' }),
      take('c', KEY),
    ]);

    expect(log.filter((entry) => !entry.startsWith('other'))).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    expect(log.indexOf('other+')).toBeLessThan(log.indexOf('a-'));
  });

  it('returns null at the deadline and lets the next caller through once the turn ahead ends', async () => {
    const sut = new InProcessTurns();
    const endFirst = await sut.take(KEY, Date.now() + 1_000);

    await expect(sut.take(KEY, Date.now() + 20)).resolves.toBeNull();
    const third = sut.take(KEY, Date.now() + 1_000);
    endFirst?.();

    await expect(third).resolves.toEqual(expect.any(Function));
  });
});
