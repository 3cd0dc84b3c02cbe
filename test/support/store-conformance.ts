import { Memoizer, type MemoizePolicy } from '../../lib/core/memoizer';
import type { CacheStore } from '../../lib/stores/cache-store.interface';

export interface StoreUnderTest {
  /** A fresh store (may share the server with others). */
  make: () => CacheStore | Promise<CacheStore>;
  /** Smallest TTL the store honours exactly (memcached: whole seconds). */
  ttlGranularityMs: number;
  /** Instances see each other's invalidations after a short delay (a tiered store's bus). */
  eventualAcrossInstances?: boolean;
  /** Closes what the store does not own (a client passed in). */
  close?: (store: CacheStore) => void | Promise<void>;
  /** A second connection to the same data, as another app instance would have (memory: itself). */
  connectAgain?: (first: CacheStore) => CacheStore | Promise<CacheStore>;
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let counter = 0;

async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check()) && Date.now() < end) await sleep(20);
}

/**
 * One suite every store runs against a real server (bentocache's registerCacheDriverTestSuite,
 * keyv's test-suite): the byte contract first, then the memoizer's behaviour on top of it.
 */
export function storeConformance(name: string, sut: StoreUnderTest): void {
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
      expect(await store.get(`${p}missing`)).toBeUndefined();
      await store.set(`${p}a`, bytes('alpha'), 60_000);
      expect(Buffer.from((await store.get(`${p}a`))!).toString()).toBe('alpha');
      await store.set(`${p}a`, bytes('beta'), 60_000);
      expect(Buffer.from((await store.get(`${p}a`))!).toString()).toBe('beta');
    });

    it('keeps binary and large values byte for byte', async () => {
      const all = new Uint8Array(256).map((_, i) => i);
      await store.set(`${p}bin`, all, 60_000);
      expect(Buffer.from((await store.get(`${p}bin`))!)).toEqual(Buffer.from(all));
      const large = new Uint8Array(512 * 1024).map((_, i) => (i * 7) & 0xff);
      await store.set(`${p}large`, large, 60_000);
      expect(Buffer.from((await store.get(`${p}large`))!).equals(Buffer.from(large))).toBe(true);
      await store.set(`${p}empty`, new Uint8Array(0), 60_000);
      expect((await store.get(`${p}empty`))?.byteLength).toBe(0);
    });

    it('accepts keys with spaces, unicode, control bytes and over 250 bytes', async () => {
      const keys = [`${p}with space`, `${p}ünïcødé`, `${p}tab\there`, `${p}${'x'.repeat(400)}`, `${p}${'x'.repeat(401)}`];
      await Promise.all(keys.map((k, i) => store.set(k, bytes(`v${i}`), 60_000)));
      const got = await store.getMany(keys);
      expect(got.map((v) => v && Buffer.from(v).toString())).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    });

    it('getMany keeps order and reports missing keys', async () => {
      await store.set(`${p}1`, bytes('one'), 60_000);
      await store.set(`${p}3`, bytes('three'), 60_000);
      const got = await store.getMany([`${p}1`, `${p}2`, `${p}3`]);
      expect(got.map((v) => v && Buffer.from(v).toString())).toEqual(['one', undefined, 'three']);
      expect(await store.getMany([])).toEqual([]);
    });

    it('add sets only when absent', async () => {
      expect(await store.add(`${p}lock`, bytes('first'), 60_000)).toBe(true);
      expect(await store.add(`${p}lock`, bytes('second'), 60_000)).toBe(false);
      expect(Buffer.from((await store.get(`${p}lock`))!).toString()).toBe('first');
    });

    it('exactly one of 50 concurrent adds wins', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.add(`${p}race`, bytes(`c${i}`), 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('delete and deleteMany report what they removed', async () => {
      await store.set(`${p}d1`, bytes('1'), 60_000);
      await store.set(`${p}d2`, bytes('2'), 60_000);
      expect(await store.delete(`${p}d1`)).toBe(true);
      expect(await store.delete(`${p}d1`)).toBe(false);
      expect(await store.deleteMany([`${p}d2`, `${p}nope`])).toBe(1);
      expect(await store.getMany([`${p}d1`, `${p}d2`])).toEqual([undefined, undefined]);
    });

    it('clear(prefix) removes that prefix only', async () => {
      const other = `other${p}`;
      await Promise.all([
        store.set(`${p}x`, bytes('x'), 60_000),
        store.set(`${p}y`, bytes('y'), 60_000),
        store.set(`${other}x`, bytes('kept'), 60_000),
      ]);
      await store.clear(p);
      expect(await store.getMany([`${p}x`, `${p}y`])).toEqual([undefined, undefined]);
      expect(Buffer.from((await store.get(`${other}x`))!).toString()).toBe('kept');
      await store.set(`${p}x`, bytes('again'), 60_000);
      expect(Buffer.from((await store.get(`${p}x`))!).toString()).toBe('again');
    });

    it('expires entries after their ttl', async () => {
      const ttl = sut.ttlGranularityMs;
      await store.set(`${p}ttl`, bytes('v'), ttl);
      await store.set(`${p}long`, bytes('v'), 60_000);
      expect(await store.get(`${p}ttl`)).toBeDefined();
      await sleep(ttl * 2 + 300);
      expect(await store.get(`${p}ttl`)).toBeUndefined();
      expect(await store.get(`${p}long`)).toBeDefined();
    });

    it('handles 500 concurrent operations on distinct keys', async () => {
      await Promise.all(Array.from({ length: 500 }, (_, i) => store.set(`${p}c${i}`, bytes(`v${i}`), 60_000)));
      const got = await Promise.all(Array.from({ length: 500 }, (_, i) => store.get(`${p}c${i}`)));
      expect(got.every((v, i) => v !== undefined && Buffer.from(v).toString() === `v${i}`)).toBe(true);
    });

    describe('memoizer on this store', () => {
      const policy = (tagKeys: string[] = []): MemoizePolicy => ({ ttlMs: 60_000, tagKeys });

      it('computes once for 100 concurrent callers, then hits', async () => {
        const m = new Memoizer(store, { prefix: p.slice(0, -1) });
        let runs = 0;
        const f = async () => {
          runs++;
          await sleep(20);
          return { at: new Date(0), big: 10n, set: new Set([1]), nested: { map: new Map([['k', [undefined, null]]]) } };
        };
        const all = await Promise.all(Array.from({ length: 100 }, () => m.getOrSet(`${p}k`, f, policy())));
        expect(runs).toBe(1);
        await sleep(20);
        const hit = await m.getOrSet(`${p}k`, f, policy());
        expect(runs).toBe(1);
        expect(hit).toEqual(all[0]);
        expect(hit.at).toBeInstanceOf(Date);
        expect(hit.nested.map.get('k')).toEqual([undefined, null]);
      });

      it('another instance sharing the store reads the value and sees invalidations at once', async () => {
        const prefix = p.slice(0, -1);
        const a = new Memoizer(store, { prefix });
        const second = sut.connectAgain ? await sut.connectAgain(store) : await open();
        const b = new Memoizer(second, { prefix });
        let runs = 0;
        const f = async () => ++runs;
        const tags = [`${prefix}:~tag:user:1`];
        expect(await a.getOrSet(`${p}u1`, f, policy(tags))).toBe(1);
        await sleep(20);
        expect(await b.getOrSet(`${p}u1`, f, policy(tags))).toBe(1); // from the shared store
        await a.invalidateTagKeys(tags);
        // A tiered store's bus is asynchronous: B's L1 copy goes within its bounded lifetime.
        if (sut.eventualAcrossInstances) await waitUntil(async () => (await b.peek(`${p}u1`)) === undefined, 2_000);
        expect(await b.getOrSet(`${p}u1`, f, policy(tags))).toBe(2); // read-your-invalidation on B
        await sleep(20);
        expect(await a.getOrSet(`${p}u1`, f, policy(tags))).toBe(2);
        await b.deleteKeys([`${p}u1`]);
        if (sut.eventualAcrossInstances) await waitUntil(async () => (await a.peek(`${p}u1`)) === undefined, 2_000);
        expect(await a.getOrSet(`${p}u1`, f, policy(tags))).toBe(3);
        if (second !== store) await close(second);
      });

      it('treats garbage and planted __proto__ payloads as misses and overwrites them', async () => {
        const m = new Memoizer(store, { prefix: p.slice(0, -1) });
        await store.set(`${p}g`, bytes('not an envelope'), 60_000);
        await store.set(`${p}proto`, bytes('{"__proto__":{"polluted":true},"v":1,"c":0,"e":9e15,"s":9e15,"t":[]}'), 60_000);
        expect(await m.getOrSet(`${p}g`, async () => 'fresh', policy())).toBe('fresh');
        expect(await m.getOrSet(`${p}proto`, async () => 'fresh', policy())).toBe('fresh');
        expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
        await sleep(20);
        expect(await m.getOrSet(`${p}g`, async () => 'other', policy())).toBe('fresh');
      });
    });
  });
}
