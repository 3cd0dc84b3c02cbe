import assert from 'node:assert/strict';
import { Memoizer } from '../engine/memoizer';
import type { CachePolicy } from '../types/policy';
import { bytes, sharesNothing, sleep, type SuiteContext } from './suite-context';

/** A call's write lands after it returns: wait for it (bounded) before another reader expects it. */
const written = (m: Memoizer) => m.ctx.background.drain(3_000);

/** The engine's behaviour on top of the store. */
export function engineContract(c: SuiteContext): void {
  const { describe, it } = c.api;
  describe('engine on this store', () => {
    const policy = (deps: string[] = []): CachePolicy => ({
      owner: 'conformance',
      ttlMs: 60_000,
      graceMs: 0,
      storeResult: true,
      deps,
    });

    it('computes once for 100 concurrent callers, then hits', async () => {
      const m = new Memoizer(c.store, { prefix: c.p.slice(0, -1) });
      let runs = 0;
      const f = async () => {
        runs++;
        await sleep(20);
        return { at: new Date(0), big: 10n, set: new Set([1]), nested: { map: new Map([['k', [undefined, null]]]) } };
      };
      const all = await Promise.all(Array.from({ length: 100 }, () => m.getOrSet(`${c.p}k`, f, policy())));
      assert.equal(runs, 1);
      await written(m);
      const hit = await m.getOrSet(`${c.p}k`, f, policy());
      assert.equal(runs, 1);
      assert.deepEqual(hit, all[0]);
      assert.ok(hit.at instanceof Date);
      assert.deepEqual(hit.nested.map.get('k'), [undefined, null]);
      await m.close();
    });

    it('another instance sharing the store reads the value and sees invalidations the moment they resolve', async () => {
      const prefix = c.p.slice(0, -1);
      const a = new Memoizer(c.store, { prefix });
      const second = await c.second();
      const b = new Memoizer(second, { prefix });
      let runs = 0;
      const f = async () => ++runs;
      const tags = [`${prefix}:~tag:user:1`];
      assert.equal(await a.getOrSet(`${c.p}u1`, f, policy(tags)), 1);
      await written(a);
      assert.equal(await b.getOrSet(`${c.p}u1`, f, policy(tags)), 1, sharesNothing(c.name));
      await a.invalidateDeps(tags);
      assert.equal(await b.getOrSet(`${c.p}u1`, f, policy(tags)), 2); // read-your-invalidation on B
      await written(b);
      assert.equal(await a.getOrSet(`${c.p}u1`, f, policy(tags)), 2);
      await b.invalidateKeys([`${c.p}u1`]);
      assert.equal(await a.getOrSet(`${c.p}u1`, f, policy(tags)), 3);
      await a.close();
      await b.close();
      await c.release(second);
    });

    it('treats garbage and planted __proto__ payloads as misses and overwrites them', async () => {
      const m = new Memoizer(c.store, { prefix: c.p.slice(0, -1) });
      await c.store.set(`${c.p}g`, bytes('not an envelope'), 60_000);
      await c.store.set(
        `${c.p}proto`,
        bytes('{"__proto__":{"polluted":true},"v":1,"c":0,"e":9e15,"s":9e15,"t":[]}'),
        60_000,
      );
      assert.equal(await m.getOrSet(`${c.p}g`, async () => 'fresh', policy()), 'fresh');
      assert.equal(await m.getOrSet(`${c.p}proto`, async () => 'fresh', policy()), 'fresh');
      assert.equal(({} as { polluted?: boolean }).polluted, undefined);
      await written(m);
      assert.equal(await m.getOrSet(`${c.p}g`, async () => 'other', policy()), 'fresh');
      await m.close();
    });
  });
}
