/*
 * Two instances on one shared store: X's call times out (hard) on a slow computation that read the
 * old row; the row changes and Y refresh()es the key. X's late value, computed before the refresh,
 * must not replace Y's (found by review: a refresh moved no version, so the late write's tokens
 * were still current). A refresh now moves the key's version by compare-and-set, as @CachePut does.
 */
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';
import { until } from '../support/until';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = storeCases('redis', 'memcached', 'tiered over redis');

describe.each(cases)('%s: an overdue computation on X, a refresh on Y', (_n, make) => {
  const made: Memoizer[] = [];
  afterAll(async () => {
    for (const m of made) {
      await m.close(3_000);
      await m.store.disconnect();
    }
  });

  it("X's late value does not replace Y's refresh that came first", async () => {
    const prefix = uniquePrefix('odx');
    const [sx, sy] = [make(), make()];
    await Promise.all([sx.ready?.(5_000), sy.ready?.(5_000)]);
    const x = new Memoizer(sx, { prefix });
    const y = new Memoizer(sy, { prefix });
    made.push(x, y);
    // The timeout counts from the call, lookup included: 300 ms leaves a loaded machine's round trips room.
    const policy = testPolicy({ ttlMs: 600_000, hardTimeoutMs: 300 } as never);
    const stale: string[] = [];
    for (let round = 0; round < 3; round++) {
      const key = `${prefix}:k${round}`;
      let row = 'old';
      let read: string | undefined;
      const slow = x.getOrSet(
        key,
        async () => {
          read = row; // the query reads the row now...
          await sleep(800); // ...and is slow to answer
          return read;
        },
        policy,
      );
      await expect(slow).rejects.toMatchObject({ code: 'CACHE_MEMOIZE_TIMEOUT' });
      await until(() => read !== undefined, 5_000, "X's computation to read the row");
      row = 'new';
      expect(await y.refresh(key, async () => row, policy)).toBe('new');
      await x.ctx.background.drain(3_000); // X's computation ends and writes
      const fromY = await y.getOrSet(key, async () => `recomputed`, policy);
      const fromX = await x.getOrSet(key, async () => `recomputed`, policy);
      if (fromY === 'old' || fromX === 'old') stale.push(`round ${round}: y=${fromY} x=${fromX}`);
    }
    expect(stale).toEqual([]);
  });
});
