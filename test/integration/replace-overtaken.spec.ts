/*
 * refresh()/set() replace what is cached. A refresh of a method with result tags is not stored
 * when any invalidation lands while it runs (result tags on a shared store): the old entry must be
 * gone anyway. Found by review: the writer reported 'overtaken' as stored, and the old value was
 * served after refresh() resolved. Now a refresh moves the key's version before it writes.
 */
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { memoizersOf, storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = storeCases('redis', 'memcached', 'tiered over redis');

describe.each(cases)('%s: refresh with result tags overtaken by an unrelated invalidation', (_n, make) => {
  const memoizer = memoizersOf(make);

  it('after refresh() resolves, the old value is not served', async () => {
    const prefix = uniquePrefix('rov');
    const m = await memoizer(prefix);
    const policy = testPolicy({ ttlMs: 600_000 });
    const scope = { resultDeps: (v: unknown) => [`${prefix}:~tag:row:${String(v).split('@')[0]}`] };
    const stale: string[] = [];
    for (let round = 0; round < 5; round++) {
      const key = `${prefix}:k${round}`;
      expect(await m.getOrSet(key, async () => 'old@1', policy, scope)).toBe('old@1');
      await m.ctx.background.drain(3_000);
      // The row changed: refresh. Meanwhile, something unrelated is invalidated.
      const refreshing = m.refresh(
        key,
        async () => {
          await sleep(30);
          return 'new@2';
        },
        policy,
        scope,
      );
      await sleep(5);
      await m.invalidateDeps([`${prefix}:~tag:unrelated`]);
      expect(await refreshing).toBe('new@2');
      const next = await m.getOrSet(key, async () => 'recomputed@3', policy, scope);
      if (next === 'old@1') stale.push(`round ${round}: ${next}`);
    }
    expect(stale).toEqual([]);
  });
});
