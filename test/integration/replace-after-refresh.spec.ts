/*
 * A set() after an earlier refresh of the key in this process — one past its hard timeout, or one
 * whose method returned but whose write is on its way — stores the set's value. Found by review:
 * the earlier refresh, unregistered before its write, was not superseded; both raced their
 * compare-and-set from one token and the older won (or both lost: a miss). Now a newer
 * replacement supersedes the older one up to its write, and follows its bucket move.
 */
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = storeCases('redis', 'memcached', 'tiered over redis');

describe.each(cases)('%s', (_n, make) => {
  it('set() after an overdue refresh stores the set value', async () => {
    const store = make();
    await store.ready?.(5_000);
    const prefix = uniquePrefix('ovset');
    const m = new Memoizer(store, { prefix });
    // Only the gated refresh may pass it: the other calls must finish within it on a loaded machine.
    const policy = testPolicy({ ttlMs: 600_000, hardTimeoutMs: 300 });
    const got: unknown[] = [];
    try {
      for (let round = 0; round < 10; round++) {
        const key = `${prefix}:k${round}`;
        await m.getOrSet(key, async () => 'old', policy);
        await m.ctx.background.drain(3_000);
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const overdue = m.refresh(key, () => gate.then(() => 'refreshed-late'), policy).catch((e) => e.name);
        expect(await overdue).toMatch(/Timeout/);
        const set = m.refresh(key, () => 'set-value', policy);
        release();
        await set;
        await m.ctx.background.drain(3_000);
        const seen = await m.inspect(key);
        got.push(seen.state === 'miss' ? 'miss' : seen.value);
      }
    } finally {
      await m.close();
      await store.disconnect();
    }
    expect(got).toEqual(Array(10).fill('set-value'));
  });
  it('set() while an earlier refresh is between its method and its write: the set value is stored', async () => {
    const store = make();
    await store.ready?.(5_000);
    const prefix = uniquePrefix('rwset');
    const m = new Memoizer(store, { prefix });
    const policy = testPolicy({ ttlMs: 600_000 });
    const got: unknown[] = [];
    try {
      for (let round = 0; round < 10; round++) {
        const key = `${prefix}:k${round}`;
        await m.getOrSet(key, async () => 'old', policy);
        await m.ctx.background.drain(3_000);
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const first = m.refresh(key, () => gate.then(() => 'first-refresh'), policy);
        await sleep(20);
        release(); // the first refresh's value is known before set() is called
        await sleep(0);
        const set = m.refresh(key, () => 'set-value', policy);
        await Promise.all([first, set]);
        await m.ctx.background.drain(3_000);
        const seen = await m.inspect(key);
        got.push(seen.state === 'miss' ? 'miss' : seen.value);
      }
    } finally {
      await m.close();
      await store.disconnect();
    }
    expect(got).toEqual(Array(10).fill('set-value'));
  });
});
