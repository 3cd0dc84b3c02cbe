/**
 * Result-driven caching (issue 16): the computation steers its own entry (cacheContext, a ttl from
 * the result), handles control one entry (set, ttl, expireIn), and write-through (@CachePut).
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheContextError,
  CacheMemoize,
  CacheMemoizeErrorCode,
  CacheMemoizeMany,
  CacheMemoizeModule,
  CachePut,
  cacheContext,
  cacheHandle,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Product = { id: number; name: string; run: number };
const names = new Map<number, string>();

@Injectable()
class Catalog {
  runs = 0;

  @CacheMemoize({ ttl: '1m', grace: '1m' })
  async product(id: number): Promise<Product | null> {
    const cache = cacheContext(); // before the first await; the handle is used after it
    this.runs++;
    await sleep(1);
    if (id === 404) {
      cache.skip();
      return null;
    }
    if (id === 7) cache.setTtl(60);
    if (id === 8) cache.addTags(`category:${id % 2}`);
    return { id, name: names.get(id) ?? `p${id}`, run: this.runs };
  }

  @CacheMemoize({ ttl: (stock: { count: number }) => (stock.count === 0 ? 0 : stock.count < 5 ? 60 : '1m') })
  async stock(count: number): Promise<{ count: number; run: number }> {
    return { count, run: ++this.runs };
  }

  @CacheMemoize({ ttl: '1m' })
  async failing(id: number): Promise<number> {
    const cache = cacheContext();
    this.runs++;
    await sleep(1);
    if (id < 0) cache.fail(new Error(`upstream down for ${id}`));
    return id;
  }

  @CacheMemoize({ ttl: '1m' })
  async late(id: number): Promise<number> {
    await sleep(1);
    cacheContext().setTtl(10);
    return id;
  }

  @CacheMemoizeMany({ ttl: '1m' })
  async many(ids: number[]): Promise<number[]> {
    const cache = cacheContext();
    if (ids.includes(0)) cache.setTtl(60); // speaks for every item of this call
    this.runs++;
    return ids;
  }
}

@Injectable()
class Writer {
  @CachePut({ method: [Catalog, 'product'], args: (id: number) => [id] })
  async rename(id: number, name: string): Promise<Product> {
    names.set(id, name);
    return { id, name, run: -1 };
  }
}

async function instance(store: CacheStore, prefix: string): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix })],
    providers: [Catalog, Writer],
  }).compile();
  await app.init();
  return app;
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('result-driven caching on %s', (_name, makeStore) => {
  let app: TestingModule;
  let catalog: Catalog;
  beforeEach(async () => {
    names.clear();
    app = await instance(makeStore(), uniquePrefix('rd'));
    catalog = app.get(Catalog);
  });
  afterEach(() => app.close());
  const settle = () => sleep(30);

  it('cacheContext: skip stores nothing, setTtl shortens one entry, addTags tags it', async () => {
    expect(await catalog.product(404)).toBeNull();
    await settle();
    expect(await catalog.product(404)).toBeNull();
    expect(catalog.runs).toBe(2);

    await catalog.product(7);
    await catalog.product(1);
    await settle();
    const runs = catalog.runs;
    await catalog.product(7);
    expect(catalog.runs).toBe(runs); // still fresh
    await sleep(100);
    await catalog.product(1); // 1 minute: a hit
    expect(catalog.runs).toBe(runs);
    const p7 = await catalog.product(7); // 60 ms ttl, 1 min grace: served stale, refreshed
    expect(p7?.id).toBe(7);
    await settle();
    expect(catalog.runs).toBe(runs + 1);

    await catalog.product(8);
    await settle();
    const before = catalog.runs;
    await app.get(InvalidationService).invalidateTags(['category:0']);
    await catalog.product(8);
    expect(catalog.runs).toBe(before + 1);
  });

  it('ttl from the result: 0 is not stored, a short one expires, a long one stays', async () => {
    await catalog.stock(0);
    await catalog.stock(3);
    await catalog.stock(10);
    await settle();
    const runs = catalog.runs;
    await catalog.stock(0);
    expect(catalog.runs).toBe(runs + 1);
    await sleep(80);
    await catalog.stock(3);
    await catalog.stock(10);
    expect(catalog.runs).toBe(runs + 2);
  });

  it('fail() rejects and stores nothing; cacheContext() after an await throws a typed error', async () => {
    await expect(catalog.failing(-1)).rejects.toThrow('upstream down for -1');
    await expect(catalog.failing(-1)).rejects.toThrow('upstream down for -1');
    expect(catalog.runs).toBe(2);
    const error = await catalog.late(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheContextError);
    expect((error as CacheContextError).code).toBe(CacheMemoizeErrorCode.NoContext);
    expect((error as Error).message).toMatch(/before its first await/);
    expect(() => cacheContext()).toThrow(CacheContextError);
  });

  it('a batch method speaks for the items it loads', async () => {
    await catalog.many([0, 1]);
    await catalog.many([2]);
    await settle();
    const runs = catalog.runs;
    await sleep(80);
    await catalog.many([0, 1, 2]);
    expect(catalog.runs).toBe(runs + 1); // 0 and 1 expired, 2 still fresh
  });

  it('handles: set stores a value, ttl tells what is left, expireIn shortens or extends without recomputing', async () => {
    const handle = cacheHandle(catalog, 'product');
    expect(await handle.ttl(1)).toBeUndefined();
    expect(await handle.expireIn('1h', 1)).toBe(false);
    await handle.set({ id: 1, name: 'given', run: 0 }, 1);
    expect(await catalog.product(1)).toEqual({ id: 1, name: 'given', run: 0 });
    expect(catalog.runs).toBe(0);
    const left = await handle.ttl(1);
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(60_000);
    expect(Number.isInteger(left)).toBe(true);

    expect(await handle.expireIn('2h', 1)).toBe(true);
    expect(await handle.ttl(1)).toBeGreaterThan(3_600_000);
    expect(await handle.expireIn(0, 1)).toBe(true);
    expect(await handle.ttl(1)).toBeUndefined(); // stale now (within grace)
    await sleep(5); // in-process expiry reads a clock refreshed once per millisecond
    expect(await catalog.product(1)).toEqual({ id: 1, name: 'given', run: 0 }); // stale, refreshing
    await settle();
    expect((await catalog.product(1))?.run).toBe(1);
  });

  it('@CachePut stores the write method result as the entry, so the next read is a hit with it', async () => {
    await catalog.product(5);
    await settle();
    const writer = app.get(Writer);
    expect(await writer.rename(5, 'renamed')).toEqual({ id: 5, name: 'renamed', run: -1 });
    const runs = catalog.runs;
    expect(await catalog.product(5)).toEqual({ id: 5, name: 'renamed', run: -1 });
    expect(catalog.runs).toBe(runs);
  });
});

describe('@CachePut across instances', () => {
  it('another instance reads the written value, and an invalidation still beats it', async () => {
    const prefix = uniquePrefix('put');
    const a = await instance(redisStore({ url: servers.redis }), prefix);
    const b = await instance(redisStore({ url: servers.redis }), prefix);
    try {
      await b.get(Catalog).product(9);
      await sleep(30);
      await a.get(Writer).rename(9, 'nine');
      expect(await b.get(Catalog).product(9)).toEqual({ id: 9, name: 'nine', run: -1 });
      await b.get(InvalidationService).invalidateMethod(Catalog, 'product', [9]);
      expect((await a.get(Catalog).product(9))?.run).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
