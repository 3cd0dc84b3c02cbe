/*
 * Two instances on the same two memcached servers, listed in another order (from review). memjs
 * places a key at hash(key) % servers.length in the list as given, so the instances kept version
 * records on different servers and an invalidation that resolved on B never reached A: A served
 * the old value for 20 of 20 keys. The list is sorted now.
 */
import { memcachedStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { MemcachedServer } from '../support/servers';
import { testPolicy } from '../support/policy';
import { drained } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

describe('memcached: instances listing the same servers in another order', () => {
  let servers: MemcachedServer[] = [];
  beforeAll(async () => {
    servers = await Promise.all([MemcachedServer.launch(), MemcachedServer.launch()]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('an invalidation resolved on B holds on A (20 keys, each on the server its hash picks)', async () => {
    const [m1, m2] = servers.map((s) => s.address);
    const prefix = uniquePrefix('order');
    const stores = [memcachedStore({ servers: `${m1},${m2}` }), memcachedStore({ servers: ` ${m2} , ${m1}` })];
    const [a, b] = stores.map((s) => new Memoizer(s, { prefix }));
    try {
      const stale: string[] = [];
      for (let i = 0; i < 20; i++) {
        const tag = `${prefix}:~t:user${i}`;
        const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
        const key = `${prefix}:Users.get:${i}`;
        expect(await a.getOrSet(key, async () => 'v1', policy)).toBe('v1');
        await drained(a);
        expect(await b.getOrSet(key, async () => 'v1 on b', policy)).toBe('v1'); // one entry, seen by both
        await b.invalidateDeps([tag]);
        const got = await a.getOrSet(key, async () => 'v2', policy);
        if (got !== 'v2') stale.push(`user${i}: ${got}`);
      }
      expect(stale).toEqual([]);
    } finally {
      for (const m of [a, b]) await m.close();
      for (const s of stores) await s.disconnect();
    }
  });
});
