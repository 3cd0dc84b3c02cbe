/*
 * Across two instances: A's refresh or @CachePut, its value known and on its way to the store, and
 * B's set() of a newer value right after. Once both resolve a read gets B's value or misses, never
 * A's older one (found by review: B's compare-and-set failed and it neither wrote nor invalidated,
 * leaving A's value). A move this process did not make now invalidates the key.
 */
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = storeCases('redis', 'memcached', 'tiered over redis');

describe.each(cases)('%s', (_n, make) => {
  it.each(['refresh', 'put'])(
    "A's %s (value known) vs B's set() called after: never A's older value",
    async (kind) => {
      const prefix = uniquePrefix('older');
      const sa = make();
      const sb = make();
      await sa.ready?.(5_000);
      await sb.ready?.(5_000);
      const a = new Memoizer(sa, { prefix });
      const b = new Memoizer(sb, { prefix });
      const policy = testPolicy({ ttlMs: 600_000 });
      const bad: string[] = [];
      try {
        for (let round = 0; round < 100; round++) {
          const key = `${prefix}:k${round}`;
          await a.getOrSet(key, async () => 'old', policy);
          await b.getOrSet(key, async () => 'old', policy);
          let release!: () => void;
          const gate = new Promise<void>((r) => (release = r));
          const older =
            kind === 'refresh'
              ? a.refresh(key, () => gate.then(() => 'A-older'), policy)
              : a.put(key, () => gate.then(() => 'A-older'), policy);
          await sleep(10);
          release(); // A's value is final before B's set is called
          await (round % 2 === 0 ? new Promise((r) => setImmediate(r)) : sleep(round % 3)); // 0-2 ms: A's swap is on its way
          await b.refresh(key, () => 'B-set', policy);
          await older;
          await a.ctx.background.drain(3_000);
          await b.ctx.background.drain(3_000);
          const got = await b.getOrSet(key, async () => 'miss', policy);
          if (got === 'A-older') bad.push(`round ${round}: ${got}`);
        }
      } finally {
        await a.close();
        await b.close();
        await sa.disconnect();
        await sb.disconnect();
      }
      expect(bad).toEqual([]);
    },
    60_000,
  );
});
