/*
 * Keys share 65,536 version buckets. Two keys of one bucket replaced at once (refreshMany) read
 * the same token: the first moves it; the second's compare-and-set fails, and this process knows
 * its own move stands for both, so both are stored under it. A first version moved the bucket
 * again and dropped both new entries (found by review: all 20 keys were misses); a second stored
 * only one of each pair.
 */
import { redisStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

it('refreshMany over keys sharing a bucket: every key stored with its new value', async () => {
  const store = redisStore({ url: servers.redis });
  await store.ready?.(5_000);
  const prefix = uniquePrefix('rmb');
  const m = new Memoizer(store, { prefix });
  const policy = testPolicy({ ttlMs: 600_000 });
  const versions = (m as unknown as { topology: { versions: { bucketOf(k: string): string } } }).topology.versions;
  // 10 pairs of keys that share a bucket
  const seen = new Map<string, string>();
  const keys: string[] = [];
  for (let i = 0; keys.length < 20; i++) {
    const k = `${prefix}:user:${i}`;
    const other = seen.get(versions.bucketOf(k));
    if (other !== undefined) {
      keys.push(other, k);
      seen.delete(versions.bucketOf(k));
    } else seen.set(versions.bucketOf(k), k);
  }
  try {
    for (const k of keys) await m.getOrSet(k, async () => 'old', policy);
    await m.refreshMany(keys, async (positions) => positions.map((p) => `new${p}`), policy);
    const pairs: string[] = [];
    for (let i = 0; i < keys.length; i += 2) {
      const [a, b] = [await m.inspect(keys[i], undefined, policy), await m.inspect(keys[i + 1], undefined, policy)];
      const view = (f: typeof a) => (f.state === 'fresh' ? String(f.value) : f.state);
      pairs.push([view(a), view(b)].sort().join(' '));
    }
    expect(pairs).toEqual(keys.filter((_, i) => i % 2 === 0).map((_, p) => `new${2 * p} new${2 * p + 1}`));
  } finally {
    await m.close();
    await store.disconnect();
  }
}, 60_000);
