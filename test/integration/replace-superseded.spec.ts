/*
 * Two refreshes of one key in one instance: the second supersedes the first, which writes nothing.
 * The first refresh() must not resolve while the entry computed before either refresh is still
 * served (found by review: it did); it resolves once the newer one has replaced the entry.
 */
import { redisStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { memoizersOf, storeCases } from '../support/store-cases';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = storeCases('redis', 'memcached', 'tiered over redis');

describe.each(cases)('%s: a refresh superseded by a second refresh', (_n, make) => {
  const memoizer = memoizersOf(make);

  it('after the first refresh() resolves, the value cached before it is not served', async () => {
    const prefix = uniquePrefix('rsup');
    const m = await memoizer(prefix);
    const policy = testPolicy({ ttlMs: 600_000 });
    const stale: string[] = [];
    for (let round = 0; round < 5; round++) {
      const key = `${prefix}:k${round}`;
      expect(await m.getOrSet(key, async () => 'old', policy)).toBe('old');
      await m.ctx.background.drain(3_000);
      const first = m.refresh(
        key,
        async () => {
          await sleep(30);
          return 'new1';
        },
        policy,
      );
      await sleep(10);
      const second = m.refresh(
        key,
        async () => {
          await sleep(300);
          return 'new2';
        },
        policy,
      );
      expect(await first).toBe('new1');
      const next = await m.getOrSet(key, async () => 'recomputed', policy);
      if (next === 'old') stale.push(`round ${round}: ${next}`);
      await second;
    }
    expect(stale).toEqual([]);
  });
});

// A refresh waits for the one that superseded it at most a store budget: one whose method never
// settles (a query on a dead connection) held it forever (found by review). It then invalidates.
it('redis: a refresh superseded by one that never settles resolves, and the old value is gone', async () => {
  const store = redisStore({ url: servers.redis });
  await store.ready?.(5_000);
  const prefix = uniquePrefix('rsh');
  const m = new Memoizer(store, { prefix, operationTimeoutMs: 300 });
  const policy = testPolicy({ ttlMs: 600_000 });
  const key = `${prefix}:k`;
  try {
    await m.getOrSet(key, async () => 'old', policy);
    const first = m.refresh(key, () => sleep(20).then(() => 'new1'), policy);
    await sleep(5);
    void m.refresh(key, () => new Promise<string>(() => undefined), policy).catch(() => undefined);
    expect(await first).toBe('new1');
    expect(await m.getOrSet(key, async () => 'computed', policy)).not.toBe('old');
  } finally {
    await m.close().catch(() => undefined);
    await store.disconnect();
  }
}, 20_000);
