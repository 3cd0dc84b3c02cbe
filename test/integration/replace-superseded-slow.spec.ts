/*
 * Two refreshes of one key in one process; the second's method takes longer than
 * operationTimeout. After both resolve, the entry is the second's value (found by review: the
 * first, tired of waiting, invalidated the key, detaching the second, and nothing was stored).
 * A superseded refresh no longer waits for the newer one: it moves the bucket and does not write.
 */
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = storeCases('redis', 'memcached', 'tiered over redis', 'memory');

describe.each(cases)('%s: second refresh slower than operationTimeout', (_n, make) => {
  it('the newer refresh value is stored once both resolve', async () => {
    const store = make();
    await store.ready?.(5_000);
    const prefix = uniquePrefix('sslow');
    // Each store operation's budget, with room on a loaded machine; the second method is slower.
    const m = new Memoizer(store, { prefix, operationTimeoutMs: 600 });
    const policy = testPolicy({ ttlMs: 600_000 });
    const got: unknown[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const key = `${prefix}:k${round}`;
        await m.getOrSet(key, async () => 'old', policy);
        await m.ctx.background.drain(3_000);
        const first = m.refresh(key, () => sleep(20).then(() => 'new1'), policy);
        await sleep(5);
        const second = m.refresh(key, () => sleep(900).then(() => 'new2'), policy);
        await Promise.all([first, second]);
        await m.ctx.background.drain(3_000);
        const seen = await m.inspect(key);
        got.push(seen.state === 'miss' ? 'miss' : seen.value);
      }
    } finally {
      await m.close();
      await store.disconnect();
    }
    expect(got).toEqual(['new2', 'new2', 'new2']);
  });
});
