/*
 * A refresh of k1 (tag t) reads bucket token T0 and epoch E0 and computes slowly; invalidateDeps(['t'])
 * resolves (the epoch moves, the bucket does not); a refresh of k2 of the same bucket moves it
 * T0->T1. k1's compare-and-set fails and it stands on k2's move — with its own epoch, so its
 * tokens judge it: its value from before the invalidation is never served. Found by review: it
 * took k2's epoch, under which an entry is fresh whatever its tokens.
 */
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';

const cases = storeCases('redis', 'memcached', 'tiered over redis');

const bucketOf = (key: string) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 65_536;
};
function pair(_m: Memoizer, prefix: string): [string, string] {
  const versions = { bucketOf };
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const k = `${prefix}:user:${i}`;
    const other = seen.get(versions.bucketOf(k));
    if (other !== undefined) return [other, k];
    seen.set(versions.bucketOf(k), k);
  }
}

describe.each(cases)('%s', (_n, make) => {
  it.each(['deps tag', 'result tag', 'clear'])(
    'refresh whose %s was invalidated mid-computation is not served after adopting a sibling move',
    async (kind) => {
      const store = make();
      await store.ready?.(5_000);
      const prefix = uniquePrefix('adep');
      const m = new Memoizer(store, { prefix });
      const p1 = testPolicy({
        ttlMs: 600_000,
        deps: kind === 'deps tag' ? ['t'] : kind === 'clear' ? [`${prefix}:~all`] : [],
      });
      const scope = kind === 'result tag' ? { resultDeps: () => ['t'] } : undefined;
      const p2 = testPolicy({ ttlMs: 600_000 });
      const [k1, k2] = pair(m, prefix);
      try {
        await m.getOrSet(k1, async () => 'k1-old', p1, scope);
        await m.getOrSet(k2, async () => 'k2-old', p2);
        await m.ctx.background.drain(3_000);
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const a = m.refresh(k1, () => gate.then(() => 'k1-before-invalidation'), p1, scope);
        await new Promise((r) => setTimeout(r, 50)); // A's snapshot taken
        await (kind === 'clear' ? m.clear(`${prefix}:`, `${prefix}:~all`) : m.invalidateDeps(['t'])); // resolved: nothing computed before this may be served for k1
        await m.refresh(k2, async () => 'k2-new', p2);
        release();
        await a;
        await m.ctx.background.drain(3_000);
        const seen = await m.inspect(k1, scope, p1);
        const v = await m.getOrSet(k1, async () => 'k1-fresh', p1, scope);
        expect({ state: seen.state, value: v }).toEqual({ state: 'miss', value: 'k1-fresh' });
      } finally {
        await m.close();
        await store.disconnect();
      }
    },
    30_000,
  );
});
