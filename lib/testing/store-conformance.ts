import assert from 'node:assert/strict';
import { Memoizer } from '../engine/memoizer';
import type { CachePolicy } from '../types/policy';
import type { CacheStore } from '../types/store';

/** The test functions the suite registers with (Jest's and Vitest's globals fit). */
export interface ConformanceTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void> | void, timeoutMs?: number): void;
  beforeAll(fn: () => Promise<void> | void, timeoutMs?: number): void;
  afterAll(fn: () => Promise<void> | void, timeoutMs?: number): void;
  beforeEach(fn: () => Promise<void> | void): void;
}

export interface StoreUnderTest {
  /** A fresh store (may share the server with others). */
  make: () => CacheStore | Promise<CacheStore>;
  /** Smallest TTL the store honours exactly (memcached: whole seconds). */
  ttlGranularityMs: number;
  /** Closes what the store does not own (a client passed in). */
  close?: (store: CacheStore) => void | Promise<void>;
  /** A second connection to the same data, as another app instance would have (memory: itself). */
  connectAgain?: (first: CacheStore) => CacheStore | Promise<CacheStore>;
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A call's write lands after it returns: wait for it (bounded) before another reader expects it. */
const written = (m: Memoizer) => m.ctx.background.drain(3_000);
let counter = 0;

const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());

/** The runner's globals: Jest's and Vitest's names, or Mocha's `before`/`after`. */
function runnerGlobals(): ConformanceTestApi {
  const g = globalThis as unknown as Partial<ConformanceTestApi> & {
    before?: ConformanceTestApi['beforeAll'];
    after?: ConformanceTestApi['afterAll'];
  };
  // Missing ones stay undefined: storeConformance names them.
  return {
    describe: g.describe!,
    it: g.it!,
    beforeAll: (g.beforeAll ?? g.before)!,
    afterAll: (g.afterAll ?? g.after)!,
    beforeEach: g.beforeEach!,
  };
}

/**
 * One suite every store runs against a real server (bentocache's registerCacheDriverTestSuite,
 * keyv's test-suite): the byte contract first, then the engine's behaviour on top of it. Call it
 * from a test file; `api` defaults to the test runner's globals (Jest, Vitest, Mocha with hooks).
 */
export function storeConformance(name: string, sut: StoreUnderTest, api: ConformanceTestApi = runnerGlobals()): void {
  const missing = (['describe', 'it', 'beforeAll', 'afterAll', 'beforeEach'] as const).filter(
    (f) => typeof api[f] !== 'function',
  );
  if (missing.length > 0)
    throw new TypeError(
      `storeConformance('${name}'): no ${missing.join(', ')} to register tests with. Run it under Jest, ` +
        `Vitest or Mocha (their globals), or pass the runner's functions as the third argument ` +
        `(node:test: { describe, it, beforeAll: before, afterAll: after, beforeEach }).`,
    );
  const { describe, it, beforeAll, afterAll, beforeEach } = api;
  describe(`store conformance: ${name}`, () => {
    let store: CacheStore;
    let p: string;
    const open = async (): Promise<CacheStore> => {
      const made = await sut.make();
      if (made.ready && !(await made.ready(5_000))) throw new Error(`${name}: store not ready after 5 s`);
      return made;
    };
    const close = async (s: CacheStore) => {
      await s.disconnect();
      await sut.close?.(s);
    };
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await close(store);
    });
    beforeEach(() => {
      p = `conf${process.pid}${Date.now().toString(36)}${counter++}:`;
    });

    it('gets what was set, and undefined for missing keys', async () => {
      assert.equal(await store.get(`${p}missing`), undefined);
      await store.set(`${p}a`, bytes('alpha'), 60_000);
      assert.equal(text(await store.get(`${p}a`)), 'alpha');
      await store.set(`${p}a`, bytes('beta'), 60_000);
      assert.equal(text(await store.get(`${p}a`)), 'beta');
    });

    it('keeps binary and large values byte for byte', async () => {
      const all = new Uint8Array(256).map((_, i) => i);
      await store.set(`${p}bin`, all, 60_000);
      assert.ok(Buffer.from((await store.get(`${p}bin`))!).equals(Buffer.from(all)));
      const large = new Uint8Array(512 * 1024).map((_, i) => (i * 7) & 0xff);
      await store.set(`${p}large`, large, 60_000);
      assert.ok(Buffer.from((await store.get(`${p}large`))!).equals(Buffer.from(large)));
      await store.set(`${p}empty`, new Uint8Array(0), 60_000);
      assert.equal((await store.get(`${p}empty`))?.byteLength, 0);
    });

    it('accepts keys with spaces, unicode, control bytes and over 250 bytes', async () => {
      const keys = [
        `${p}with space`,
        `${p}ünïcødé`,
        `${p}tab\there`,
        `${p}${'x'.repeat(400)}`,
        `${p}${'x'.repeat(401)}`,
      ];
      await Promise.all(keys.map((k, i) => store.set(k, bytes(`v${i}`), 60_000)));
      const got = await store.getMany(keys);
      assert.deepEqual(got.map(text), ['v0', 'v1', 'v2', 'v3', 'v4']);
    });

    it('getMany keeps order and reports missing keys', async () => {
      await store.set(`${p}1`, bytes('one'), 60_000);
      await store.set(`${p}3`, bytes('three'), 60_000);
      const got = await store.getMany([`${p}1`, `${p}2`, `${p}3`]);
      assert.deepEqual(got.map(text), ['one', undefined, 'three']);
      assert.deepEqual(await store.getMany([]), []);
    });

    it('add sets only when absent', async () => {
      assert.equal(await store.add(`${p}lock`, bytes('first'), 60_000), true);
      assert.equal(await store.add(`${p}lock`, bytes('second'), 60_000), false);
      assert.equal(text(await store.get(`${p}lock`)), 'first');
    });

    it('exactly one of 50 concurrent adds wins', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.add(`${p}race`, bytes(`c${i}`), 60_000)),
      );
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('delete and deleteMany report what they removed', async () => {
      await store.set(`${p}d1`, bytes('1'), 60_000);
      await store.set(`${p}d2`, bytes('2'), 60_000);
      assert.equal(await store.delete(`${p}d1`), true);
      assert.equal(await store.delete(`${p}d1`), false);
      assert.equal(await store.deleteMany([`${p}d2`, `${p}nope`]), 1);
      assert.deepEqual(await store.getMany([`${p}d1`, `${p}d2`]), [undefined, undefined]);
    });

    it('clear(prefix) removes that prefix only', async () => {
      const other = `other${p}`;
      await Promise.all([
        store.set(`${p}x`, bytes('x'), 60_000),
        store.set(`${p}y`, bytes('y'), 60_000),
        store.set(`${other}x`, bytes('kept'), 60_000),
      ]);
      await store.clear(p);
      assert.deepEqual(await store.getMany([`${p}x`, `${p}y`]), [undefined, undefined]);
      assert.equal(text(await store.get(`${other}x`)), 'kept');
      await store.set(`${p}x`, bytes('again'), 60_000);
      assert.equal(text(await store.get(`${p}x`)), 'again');
    });

    it('expires entries after their ttl', async () => {
      const ttl = 2 * sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
      await store.set(`${p}ttl`, bytes('v'), ttl);
      await store.set(`${p}long`, bytes('v'), 60_000);
      assert.notEqual(await store.get(`${p}ttl`), undefined);
      await sleep(ttl * 2 + 300);
      assert.equal(await store.get(`${p}ttl`), undefined);
      assert.notEqual(await store.get(`${p}long`), undefined);
    });

    it('touch (when the store has it) extends the lifetime of existing keys', async () => {
      if (store.touch === undefined) return;
      const ttl = 2 * sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
      await store.set(`${p}touched`, bytes('v'), ttl);
      await store.set(`${p}untouched`, bytes('v'), ttl);
      await store.touch([`${p}touched`, `${p}never-set`], 60_000);
      await sleep(ttl * 2 + 300);
      assert.equal(text(await store.get(`${p}touched`)), 'v');
      assert.equal(await store.get(`${p}untouched`), undefined);
      assert.equal(await store.get(`${p}never-set`), undefined);
    });

    it('compareAndSet (when the store has it) replaces only the value it was given, with its ttl', async () => {
      if (store.compareAndSet === undefined) return;
      const ttl = 2 * sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
      await store.set(`${p}cas`, bytes('first'), 60_000);
      assert.equal(await store.compareAndSet(`${p}cas`, bytes('other'), bytes('lost'), 60_000), false);
      assert.equal(await store.compareAndSet(`${p}cas`, bytes('firs'), bytes('lost'), 60_000), false); // a prefix
      assert.equal(text(await store.get(`${p}cas`)), 'first');
      assert.equal(await store.compareAndSet(`${p}cas`, bytes('first'), bytes('second'), ttl), true);
      assert.equal(text(await store.get(`${p}cas`)), 'second');
      assert.equal(await store.compareAndSet(`${p}absent`, bytes('first'), bytes('made'), 60_000), false);
      assert.equal(await store.get(`${p}absent`), undefined); // never creates a key
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.compareAndSet!(`${p}cas`, bytes('second'), bytes(`r${i}`), 60_000)),
      );
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(text(await store.get(`${p}cas`)), `r${results.indexOf(true)}`);
      await store.set(`${p}short`, bytes('v'), 60_000);
      assert.equal(await store.compareAndSet(`${p}short`, bytes('v'), bytes('w'), ttl), true);
      await sleep(ttl * 2 + 300);
      assert.equal(await store.get(`${p}short`), undefined); // kept for the ttl given, not the old one
    });

    it('compareAndDelete (when the store has it) deletes only the value it was given', async () => {
      if (store.compareAndDelete === undefined) return;
      await store.set(`${p}cad`, bytes('mine'), 60_000);
      assert.equal(await store.compareAndDelete(`${p}cad`, bytes('theirs')), false);
      assert.equal(text(await store.get(`${p}cad`)), 'mine');
      assert.equal(await store.compareAndDelete(`${p}cad`, bytes('mine')), true);
      assert.equal(await store.get(`${p}cad`), undefined);
      assert.equal(await store.compareAndDelete(`${p}cad`, bytes('mine')), false);
    });

    it('handles 500 concurrent operations on distinct keys', async () => {
      await Promise.all(Array.from({ length: 500 }, (_, i) => store.set(`${p}c${i}`, bytes(`v${i}`), 60_000)));
      const got = await Promise.all(Array.from({ length: 500 }, (_, i) => store.get(`${p}c${i}`)));
      assert.ok(got.every((v, i) => text(v) === `v${i}`));
    });

    describe('engine on this store', () => {
      const policy = (deps: string[] = []): CachePolicy => ({
        owner: 'conformance',
        ttlMs: 60_000,
        graceMs: 0,
        storeResult: true,
        deps,
      });

      it('computes once for 100 concurrent callers, then hits', async () => {
        const m = new Memoizer(store, { prefix: p.slice(0, -1) });
        let runs = 0;
        const f = async () => {
          runs++;
          await sleep(20);
          return { at: new Date(0), big: 10n, set: new Set([1]), nested: { map: new Map([['k', [undefined, null]]]) } };
        };
        const all = await Promise.all(Array.from({ length: 100 }, () => m.getOrSet(`${p}k`, f, policy())));
        assert.equal(runs, 1);
        await written(m);
        const hit = await m.getOrSet(`${p}k`, f, policy());
        assert.equal(runs, 1);
        assert.deepEqual(hit, all[0]);
        assert.ok(hit.at instanceof Date);
        assert.deepEqual(hit.nested.map.get('k'), [undefined, null]);
        await m.close();
      });

      it('another instance sharing the store reads the value and sees invalidations the moment they resolve', async () => {
        const prefix = p.slice(0, -1);
        const a = new Memoizer(store, { prefix });
        const second = sut.connectAgain ? await sut.connectAgain(store) : await open();
        const b = new Memoizer(second, { prefix });
        let runs = 0;
        const f = async () => ++runs;
        const tags = [`${prefix}:~tag:user:1`];
        assert.equal(await a.getOrSet(`${p}u1`, f, policy(tags)), 1);
        await written(a);
        assert.equal(
          await b.getOrSet(`${p}u1`, f, policy(tags)),
          1,
          `${name}: a second instance did not read what the first wrote. For a store whose data lives in ` +
            `the process, pass connectAgain: (store) => store.`,
        );
        await a.invalidateDeps(tags);
        assert.equal(await b.getOrSet(`${p}u1`, f, policy(tags)), 2); // read-your-invalidation on B
        await written(b);
        assert.equal(await a.getOrSet(`${p}u1`, f, policy(tags)), 2);
        await b.invalidateKeys([`${p}u1`]);
        assert.equal(await a.getOrSet(`${p}u1`, f, policy(tags)), 3);
        await a.close();
        await b.close();
        if (second !== store) await close(second);
      });

      it('treats garbage and planted __proto__ payloads as misses and overwrites them', async () => {
        const m = new Memoizer(store, { prefix: p.slice(0, -1) });
        await store.set(`${p}g`, bytes('not an envelope'), 60_000);
        await store.set(
          `${p}proto`,
          bytes('{"__proto__":{"polluted":true},"v":1,"c":0,"e":9e15,"s":9e15,"t":[]}'),
          60_000,
        );
        assert.equal(await m.getOrSet(`${p}g`, async () => 'fresh', policy()), 'fresh');
        assert.equal(await m.getOrSet(`${p}proto`, async () => 'fresh', policy()), 'fresh');
        assert.equal(({} as { polluted?: boolean }).polluted, undefined);
        await written(m);
        assert.equal(await m.getOrSet(`${p}g`, async () => 'other', policy()), 'fresh');
        await m.close();
      });
    });
  });
}
