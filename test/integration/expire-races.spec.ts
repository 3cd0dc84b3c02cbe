/**
 * expire against concurrent writers: it rewrites the bytes it read, so a write landing between
 * that read and its own write (a @CachePut, a refresh, a set from another instance) must not be
 * overwritten by the older bytes. Stores with compare-and-set (Redis, memcached through memjs,
 * tiered over either) retime the newer entry instead; without it, the documented window remains.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CachePut,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';

const servers = sharedServers();

type Product = { id: number; name: string };

@Injectable()
class Catalog {
  runs = 0;

  @CacheMemoize({ ttl: '1m', grace: '1m' })
  async product(id: number): Promise<Product> {
    this.runs++;
    return { id, name: `computed ${this.runs}` };
  }
}

@Injectable()
class Writer {
  @CachePut({ method: [Catalog, 'product'], args: (id: number) => [id] })
  async rename(id: number, name: string): Promise<Product> {
    return { id, name };
  }
}

const instance = (store: CacheStore, prefix: string): Promise<TestingModule> => appOn(store, prefix, [Catalog, Writer]);

/**
 * The store as it is, except that once armed, each read of `key` is held until `meanwhile()` has
 * run: what another instance writes then lands between this instance's read and its next write.
 * `lagMs` delays every answer to a read (a slow link), widening that window for real races.
 */
function holdingReads(store: CacheStore, options: { hideCompareAndSet?: boolean } = {}) {
  const hook: {
    key?: string;
    meanwhile?: () => Promise<void>;
    lagMs: number;
    reads: number;
    swaps: boolean[];
    loseAnswer?: boolean;
  } = {
    lagMs: 0,
    reads: 0,
    swaps: [],
  };
  const after = async <T>(keys: readonly string[], value: T): Promise<T> => {
    if (hook.lagMs > 0) await new Promise((r) => setTimeout(r, hook.lagMs)); // a slow network
    if (hook.key !== undefined && hook.meanwhile !== undefined && keys.includes(hook.key)) {
      hook.reads++;
      await hook.meanwhile();
    }
    return value;
  };
  const proxy = new Proxy(store, {
    get(target, prop) {
      if (prop === 'get') return async (key: string) => after([key], await target.get(key));
      if (prop === 'getMany') return async (keys: readonly string[]) => after(keys, await target.getMany(keys));
      if (prop === 'compareAndSet') {
        const cas = target.compareAndSet?.bind(target);
        if (cas === undefined || options.hideCompareAndSet === true) return undefined;
        return async (...a: Parameters<typeof cas>) => {
          const swapped = await cas(...a);
          hook.swaps.push(swapped);
          if (hook.loseAnswer) throw new Error('compareAndSet timed out'); // applied, answer lost
          return swapped;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: proxy, hook };
}

const held = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered over redis', (l2?: CacheStore) => tieredStore(memoryStore(), l2 ?? redisStore({ url: servers.redis }))],
  [
    'tiered over memcached',
    (l2?: CacheStore) => tieredStore(memoryStore(), l2 ?? memcachedStore({ servers: servers.memcached[0] })),
  ],
] as Array<[string, (l2?: CacheStore) => CacheStore]>;

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});

describe.each(held)('expireIn against a concurrent write on %s', (name, makeStore) => {
  const tiered = name.startsWith('tiered');
  const l2Of = () =>
    name.endsWith('memcached') ? memcachedStore({ servers: servers.memcached[0] }) : redisStore({ url: servers.redis });
  let apps: TestingModule[] = [];
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
  });
  /** `a` reads through holdingReads; `b` and `c` are other instances on the same server and prefix. */
  async function fleet(options?: { hideCompareAndSet?: boolean }) {
    const prefix = uniquePrefix('xr');
    const wrapped = holdingReads(tiered ? l2Of() : makeStore(), options);
    const a = await instance(tiered ? makeStore(wrapped.store) : wrapped.store, prefix);
    const b = await instance(makeStore(), prefix);
    const c = await instance(makeStore(), prefix);
    apps.push(a, b, c);
    return { a, b, c, hook: wrapped.hook, prefix };
  }

  it.each([
    ['a @CachePut', (b: TestingModule) => b.get(Writer).rename(1, 'renamed')],
    ['handle.set', (b: TestingModule) => cacheHandle(b.get(Catalog), 'product').set({ id: 1, name: 'renamed' }, 1)],
  ])('%s from another instance landing between its read and its write is kept and retimed', async (_w, write) => {
    const { a, b, c, hook } = await fleet();
    await a.get(Catalog).product(1);
    await settle(a);
    hook.key = cacheHandle(a.get(Catalog), 'product').keyOf(1);
    hook.meanwhile = async () => {
      hook.meanwhile = undefined; // once
      await write(b);
      await settle(b);
    };
    expect(await cacheHandle(a.get(Catalog), 'product').expireIn('1h', 1)).toBe(true);
    await settle(a);
    expect(hook.reads).toBe(1);
    const fresh = cacheHandle(c.get(Catalog), 'product');
    expect(await fresh.peek(1)).toEqual({ value: { id: 1, name: 'renamed' } });
    expect(await fresh.ttl(1)).toBeGreaterThan(30 * 60_000); // the newer entry, retimed to 1 h
    expect(c.get(Catalog).runs).toBe(0);
  });

  it('when writes overtake it three times, it gives up with false', async () => {
    const { a, b, c, hook } = await fleet();
    await a.get(Catalog).product(2);
    await settle(a);
    hook.key = cacheHandle(a.get(Catalog), 'product').keyOf(2);
    let puts = 0;
    hook.meanwhile = async () => {
      await b.get(Writer).rename(2, `put ${++puts}`);
      await settle(b);
    };
    expect(await cacheHandle(a.get(Catalog), 'product').expireIn('1h', 2)).toBe(false);
    hook.meanwhile = undefined;
    // Read 1 is overtaken by put 1, read 2 (put 1's entry) by put 2, read 3 by put 3; read 4 gives up.
    expect([hook.reads, puts]).toEqual([4, 4]);
    const fresh = cacheHandle(c.get(Catalog), 'product');
    expect(await fresh.peek(2)).toEqual({ value: { id: 2, name: 'put 4' } });
    expect(await fresh.ttl(2)).toBeLessThanOrEqual(60_000); // the last put's own lifetime
  });

  it('overtaken twice, then lost to another instance expiring the same entry: it applies (true)', async () => {
    const { a, b, c, hook } = await fleet();
    await a.get(Catalog).product(6);
    await settle(a);
    hook.key = cacheHandle(a.get(Catalog), 'product').keyOf(6);
    const steps = [
      () => b.get(Writer).rename(6, 'put 1'),
      () => b.get(Writer).rename(6, 'put 2'),
      () => cacheHandle(b.get(Catalog), 'product').expireIn('2h', 6),
    ];
    hook.meanwhile = async () => {
      const step = steps.shift();
      if (step === undefined) return;
      await step();
      await settle(b);
    };
    expect(await cacheHandle(a.get(Catalog), 'product').expireIn('1h', 6)).toBe(true);
    hook.meanwhile = undefined;
    expect(hook.reads).toBe(4);
    const fresh = cacheHandle(c.get(Catalog), 'product');
    expect(await fresh.peek(6)).toEqual({ value: { id: 6, name: 'put 2' } });
    expect(await fresh.ttl(6)).toBeGreaterThan(90 * 60_000); // B's retime, the later of the two
  });

  it('sliding expiration from 16 instances at once: every call applies (none is false)', async () => {
    const { a, b, c, prefix } = await fleet();
    const more = await Promise.all(Array.from({ length: 13 }, () => instance(makeStore(), prefix)));
    apps.push(...more);
    await a.get(Catalog).product(7);
    await settle(a);
    const handles = [a, b, c, ...more].map((app) => cacheHandle(app.get(Catalog), 'product'));
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(handles.map((h, i) => h.expireIn(`${10 + i}m`, 7)));
      expect(results).toEqual(Array(handles.length).fill(true));
    }
    expect([a, b, c, ...more].reduce((runs, app) => runs + app.get(Catalog).runs, 0)).toBe(1); // never recomputed
  });

  it('concurrent expireIn calls on one entry, from one instance and from two, all apply (none is false)', async () => {
    const { a, b, c, hook } = await fleet();
    await a.get(Catalog).product(4);
    await settle(a);
    const mine = cacheHandle(a.get(Catalog), 'product');
    const theirs = cacheHandle(b.get(Catalog), 'product');
    for (let round = 0; round < 20; round++) {
      const calls = [
        ...Array.from({ length: 5 }, (_, i) => mine.expireIn(`${10 + i}m`, 4)),
        ...Array.from({ length: 5 }, (_, i) => theirs.expireIn(`${20 + i}m`, 4)),
      ];
      expect(await Promise.all(calls)).toEqual(Array(10).fill(true));
    }
    await settle(a, b);
    const left = (await cacheHandle(c.get(Catalog), 'product').ttl(4))!;
    expect(left).toBeGreaterThan(9 * 60_000); // one of them was last
    expect(left).toBeLessThanOrEqual(24 * 60_000);
    expect(c.get(Catalog).runs + a.get(Catalog).runs).toBe(1); // never recomputed
    expect(hook.swaps.length).toBeGreaterThanOrEqual(20 * 5);
  });

  it('without compareAndSet (a custom store), it still retimes, by a plain write', async () => {
    const { a, c, hook } = await fleet({ hideCompareAndSet: true });
    await a.get(Catalog).product(3);
    await settle(a);
    expect(await cacheHandle(a.get(Catalog), 'product').expireIn('1h', 3)).toBe(true);
    await settle(a);
    expect(hook.reads).toBe(0); // never armed
    expect(await cacheHandle(c.get(Catalog), 'product').ttl(3)).toBeGreaterThan(30 * 60_000);
  });

  it('expireIn racing @CachePut from another instance never restores the older value (300 rounds)', async () => {
    const { a, b, c, hook } = await fleet();
    const handle = cacheHandle(a.get(Catalog), 'product');
    const writer = b.get(Writer);
    const fresh = cacheHandle(c.get(Catalog), 'product');
    const memoizers = [a, b].flatMap((app) => app.get(CacheMemoizeEngine).memoizersFor());
    const landed = () => Promise.all(memoizers.map((m) => m.ctx.background.drain(3_000)));
    for (let round = 0; round < 300; round++) {
      const id = 1000 + round;
      await a.get(Catalog).product(id);
      await landed();
      // The put starts first, then expire 0-9 event-loop turns later, its reads answered 0-2 ms
      // late: its read lands before, during or after the put's write, and its write after it.
      hook.lagMs = round % 3;
      const put = writer.rename(id, `put ${round}`);
      for (let i = 0; i < round % 10; i++) await new Promise((r) => setImmediate(r));
      await Promise.all([handle.expireIn('1h', id), put]);
      hook.lagMs = 0;
      await landed();
      expect(await fresh.peek(id)).toEqual({ value: { id, name: `put ${round}` } });
    }
    // The window was hit: some compare-and-sets found the put's entry where expire had read the older one.
    expect(hook.swaps.filter((swapped) => !swapped).length).toBeGreaterThan(0);
  });

  if (tiered) {
    it("a swap whose answer is lost (applied, then timed out) still drops other instances' in-process copies", async () => {
      const { a, b, hook } = await fleet();
      await a.get(Catalog).product(5);
      await settle(a);
      const theirs = cacheHandle(b.get(Catalog), 'product');
      expect(await b.get(Catalog).product(5)).toEqual({ id: 5, name: 'computed 1' }); // B holds an L1 copy
      expect(b.get(Catalog).runs).toBe(0);
      hook.loseAnswer = true;
      await expect(cacheHandle(a.get(Catalog), 'product').expireIn(0, 5)).rejects.toThrow(/compareAndSet timed out/);
      hook.loseAnswer = false;
      await settle(a, b); // the bus message arrives
      expect(await theirs.peek(5)).toBeUndefined(); // ended in L2, and B's copy is gone
    });
  }
});
