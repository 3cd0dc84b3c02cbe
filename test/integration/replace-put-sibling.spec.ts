/*
 * A @CachePut of k2 lands while a refresh of k1 of the same bucket computes: the refresh's
 * compare-and-set fails on the put's move, which it stands on (puts record their moves too). Found
 * by review: the refresh invalidated the bucket, dropping the put's value of k2.
 */
import { redisStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const bucketOf = (key: string) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 65_536;
};
function pair(prefix: string): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const k = `${prefix}:user:${i}`;
    const other = seen.get(bucketOf(k));
    if (other !== undefined) return [other, k];
    seen.set(bucketOf(k), k);
  }
}

it('a put of a bucket sibling during a refresh keeps its stored value', async () => {
  const store = redisStore({ url: servers.redis });
  await store.ready?.(5_000);
  const prefix = uniquePrefix('putsib');
  const m = new Memoizer(store, { prefix });
  const policy = testPolicy({ ttlMs: 600_000 });
  const [k1, k2] = pair(prefix);
  try {
    await m.getOrSet(k1, async () => 'k1-old', policy);
    await m.getOrSet(k2, async () => 'k2-old', policy);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const r = m.refresh(k1, () => gate.then(() => 'k1-new'), policy);
    await new Promise((res) => setTimeout(res, 30));
    await m.put(k2, async () => 'k2-put', policy);
    release();
    await r;
    await m.ctx.background.drain(3_000);
    const s1 = await m.inspect(k1, undefined, policy);
    const s2 = await m.inspect(k2, undefined, policy);
    expect([s1.state === 'miss' ? 'miss' : s1.value, s2.state === 'miss' ? 'miss' : s2.value]).toEqual([
      'k1-new',
      'k2-put',
    ]);
  } finally {
    await m.close();
    await store.disconnect();
  }
}, 30_000);
