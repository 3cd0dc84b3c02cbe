/**
 * Result-driven caching (issue 16): the computation steers its own entry (cacheContext, a ttl from
 * the result), handles control one entry (set, ttl, expireIn), and write-through (@CachePut).
 */
import 'reflect-metadata';
import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CachedError,
  CacheContextError,
  CacheMemoize,
  CacheMemoizeErrorCode,
  CacheMemoizeEngine,
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
  withCacheMode,
  type CacheEvent,
  type CacheStore,
  type StandardSchemaLike,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { written } from '../support/written';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** The call's result, or a rejection once `ms` passed (a hang). */
async function within<T>(ms: number, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hung ${ms} ms`)), ms)));
  try {
    return await Promise.race([call, hung]);
  } finally {
    clearTimeout(timer);
  }
}

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
    if (id === 7) cache.setTtl(800); // room for a loaded machine between the write and the next read
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

const instance = (store: CacheStore, prefix: string): Promise<TestingModule> => appOn(store, prefix, [Catalog, Writer]);

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

  it('cacheContext: skip stores nothing, setTtl shortens one entry, addTags tags it', async () => {
    expect(await catalog.product(404)).toBeNull();
    await settle(app);
    expect(await catalog.product(404)).toBeNull();
    expect(catalog.runs).toBe(2);

    await catalog.product(7);
    await catalog.product(1);
    await settle(app);
    const runs = catalog.runs;
    await catalog.product(7);
    expect(catalog.runs).toBe(runs); // still fresh
    await sleep(850);
    await catalog.product(1); // 1 minute: a hit
    expect(catalog.runs).toBe(runs);
    const p7 = await catalog.product(7); // 800 ms ttl, 1 min grace: served stale, refreshed
    expect(p7?.id).toBe(7);
    await settle(app);
    expect(catalog.runs).toBe(runs + 1);

    await catalog.product(8);
    await settle(app);
    const before = catalog.runs;
    await app.get(InvalidationService).invalidateTags(['category:0']);
    await catalog.product(8);
    expect(catalog.runs).toBe(before + 1);
  });

  it('ttl from the result: 0 is not stored, a short one expires, a long one stays', async () => {
    await catalog.stock(0);
    await catalog.stock(3);
    await catalog.stock(10);
    await settle(app);
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
    await settle(app);
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
    await sleep(5); // in-process deadlines are whole milliseconds, read from a clock refreshed once per millisecond
    expect(await handle.ttl(1)).toBeUndefined(); // stale now (within grace)
    expect(await catalog.product(1)).toEqual({ id: 1, name: 'given', run: 0 }); // stale, refreshing
    await settle(app);
    expect((await catalog.product(1))?.run).toBe(1);
  });

  it('expireIn reports no entry once it was invalidated, on every store, and does not bring it back', async () => {
    const handle = cacheHandle(catalog, 'product');
    await catalog.product(8); // tagged category:0 by its computation
    await catalog.product(2);
    await settle(app);
    const invalidation = app.get(InvalidationService);
    await invalidation.invalidateTags(['category:0']);
    await invalidation.invalidateMethod(Catalog, 'product', [2]); // the key's record, not a tag
    expect(await handle.expireIn('1h', 8)).toBe(false);
    expect(await handle.expireIn('1h', 2)).toBe(false);
    const runs = catalog.runs;
    expect(await handle.peek(8)).toBeUndefined();
    expect((await catalog.product(8))?.run).toBe(runs + 1);
  });

  it('expireIn racing an invalidation never brings the entry back (200 rounds)', async () => {
    const handle = cacheHandle(catalog, 'product');
    const invalidation = app.get(InvalidationService);
    // settle()'s sleeps (for HTTP responses and bus messages) would make 200 rounds take seconds.
    const memoizers = app.get(CacheMemoizeEngine).memoizersFor();
    const landed = () => Promise.all(memoizers.map((m) => m.ctx.background.drain(3_000)));
    for (let round = 0; round < 200; round++) {
      const id = 1000 + round;
      await catalog.product(id);
      await landed();
      const runs = catalog.runs;
      // Either order: the lookup of expireIn before or after the invalidation's writes.
      const first = round % 2 === 0;
      await Promise.all(
        first
          ? [handle.expireIn('1h', id), invalidation.invalidateMethod(Catalog, 'product', [id])]
          : [invalidation.invalidateMethod(Catalog, 'product', [id]), handle.expireIn('1h', id)],
      );
      await landed();
      expect(await handle.peek(id)).toBeUndefined();
      expect((await catalog.product(id))?.run).toBe(runs + 1);
    }
  });

  it('@CachePut stores the write method result as the entry, so the next read is a hit with it', async () => {
    await catalog.product(5);
    await settle(app);
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
      await settle(b);
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

@Injectable()
class Lookup {
  runs = 0;
  failNext = false;

  @CacheMemoize({ ttl: '1m', cacheErrors: { when: [NotFoundException], ttl: 300 } })
  async find(id: number): Promise<{ id: number }> {
    this.runs++;
    if (id === 404) throw new NotFoundException({ message: `no product ${id}`, id });
    if (id === 500) throw new Error('boom');
    return { id };
  }

  @CacheMemoize({ ttl: '1m', cacheErrors: { when: (e) => (e as { code?: string }).code === 'ENOENT', ttl: '1m' } })
  async file(name: string): Promise<string> {
    this.runs++;
    throw Object.assign(new Error(`no file ${name}`), { code: 'ENOENT' });
  }

  @CacheMemoize({ ttl: 40, staleIfError: '1m', tags: (sym: string) => [`sym:${sym}`] })
  async quote(sym: string): Promise<{ sym: string; run: number }> {
    const run = ++this.runs;
    await sleep(1);
    if (this.failNext) throw new Error('feed down');
    return { sym, run };
  }

  // The timeout counts from the call, store lookup included: it leaves a loaded machine's round
  // trip room (a first version's 30 ms did not), and the failing run stays well past it.
  @CacheMemoize({ ttl: 40, staleIfError: '1m', timeout: { hard: 200 } })
  async slowQuote(sym: string): Promise<{ sym: string; run: number }> {
    const run = ++this.runs;
    if (this.failNext) await sleep(500);
    return { sym, run };
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('negative caching and stale-if-error on %s', (name, makeStore) => {
  let app: TestingModule;
  let lookup: Lookup;
  const events: CacheEvent[] = [];
  beforeEach(async () => {
    events.length = 0;
    app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: makeStore() },
          prefix: uniquePrefix('neg'),
          onEvent: (e) => events.push(e),
        }),
      ],
      providers: [Lookup],
    }).compile();
    await app.init();
    lookup = app.get(Lookup);
  });
  afterEach(() => app.close());

  it('a matching error is cached for its own ttl and thrown again on every hit, as the same class', async () => {
    const first = await lookup.find(404).catch((e: unknown) => e);
    await settle(app);
    const second = await lookup.find(404).catch((e: unknown) => e);
    expect(lookup.runs).toBe(1);
    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(NotFoundException);
      expect((error as NotFoundException).getStatus()).toBe(404);
      expect((error as NotFoundException).getResponse()).toEqual({ message: 'no product 404', id: 404 });
    }
    if (name === 'memory') expect(second).toBe(first);
    await expect(lookup.find(500)).rejects.toThrow('boom');
    await expect(lookup.find(500)).rejects.toThrow('boom');
    expect(lookup.runs).toBe(3); // other errors are never cached
    await sleep(350); // the error's own ttl (300 ms), not the method's minute
    await expect(lookup.find(404)).rejects.toBeInstanceOf(NotFoundException);
    expect(lookup.runs).toBe(4);
  });

  it('other errors come back from a shared store as a CachedError with their name, message and code', async () => {
    const first = await lookup.file('a.txt').catch((e: unknown) => e);
    await settle(app);
    const second = await lookup.file('a.txt').catch((e: unknown) => e);
    expect(lookup.runs).toBe(1);
    // In process (memory, a tiered store's L1 copy of its own computation): the very error.
    if (name === 'memory' || name === 'tiered') expect(second).toBe(first);
    else {
      expect(second).toBeInstanceOf(CachedError);
      expect(second).toMatchObject({ name: 'Error', message: 'no file a.txt', code: 'ENOENT', cached: true });
    }
  });

  it('stale-if-error serves an expired entry when the method fails or times out, never an invalidated one', async () => {
    expect((await lookup.quote('A')).run).toBe(1);
    expect((await lookup.slowQuote('S')).run).toBe(2);
    await settle(app); // lifetimes count from the writes, which land after the calls return
    await sleep(80); // expired (no grace)
    lookup.failNext = true;
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    expect(await lookup.quote('A')).toEqual({ sym: 'A', run: 1 });
    expect(await lookup.slowQuote('S')).toEqual({ sym: 'S', run: 2 });
    expect(events.filter((e) => e.type === 'stale-if-error')).toHaveLength(2);
    // The log line names the method that failed, not a store (the store did nothing wrong).
    const lines = warned.mock.calls.map(([line]) => String(line)).filter((l) => l.includes('staleIfError'));
    warned.mockRestore();
    expect(lines).toEqual([
      expect.stringMatching(/^Lookup\.quote failed \(key .*\); served the expired value .*The error: feed down$/),
      expect.stringMatching(/^Lookup\.slowQuote failed \(key .*\); served the expired value .*hard timeout of 200 ms/),
    ]);
    await expect(lookup.quote('B')).rejects.toThrow('feed down'); // nothing to fall back on
    await app.get(InvalidationService).invalidateTags(['sym:A']);
    await expect(lookup.quote('A')).rejects.toThrow('feed down');
    lookup.failNext = false;
    expect((await lookup.quote('A')).run).toBeGreaterThan(2);
  });
});

/** Two deploys of one method: the old one wrote entries of the old shape. */
@Injectable()
class OldShape {
  @CacheMemoize({ ttl: '1m', namespace: 'Shape.user' })
  async user(id: number): Promise<{ id: number; version: number }> {
    return { id, version: 1 };
  }
}

const versionTwo: StandardSchemaLike = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      (value as { version?: number }).version === 2 ? { value } : { issues: [{ message: 'expected version 2' }] },
  },
};

@Injectable()
class NewShape {
  runs = 0;
  @CacheMemoize({ ttl: '1m', namespace: 'Shape.user', validate: (u: { version: number }) => u.version === 2 })
  async user(id: number): Promise<{ id: number; version: number }> {
    this.runs++;
    return { id, version: 2 };
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'Shape.user', validate: (u: { version: number }) => u.version === 2 })
  async users(ids: number[]): Promise<Array<{ id: number; version: number }>> {
    this.runs += ids.length;
    return ids.map((id) => ({ id, version: 2 }));
  }
}

@Injectable()
class MigratingShape {
  runs = 0;
  @CacheMemoize({
    ttl: '1m',
    namespace: 'Shape.user',
    validate: versionTwo,
    migrate: (old) => ({ ...(old as { id: number }), version: 2 }),
  })
  async user(id: number): Promise<{ id: number; version: number }> {
    this.runs++;
    return { id, version: 2 };
  }
}

/** Across a deploy, with `lock`: the old code holds the lock, the new code waits for its value. */
@Injectable()
class OldLocked {
  @CacheMemoize({ ttl: '1m', namespace: 'Locked.user', lock: true })
  async user(id: number): Promise<{ id: number; version: number }> {
    await sleep(400);
    return { id, version: 1 };
  }
}

@Injectable()
class NewLocked {
  runs = 0;
  @CacheMemoize({
    ttl: '1m',
    namespace: 'Locked.user',
    lock: true,
    validate: (u: { version: number }) => u.version === 2,
  })
  async user(id: number): Promise<{ id: number; version: number }> {
    this.runs++;
    return { id, version: 2 };
  }
}

/** A validator that does not answer in time (a schema awaiting something slow or stuck). */
const neverSettles: StandardSchemaLike = {
  // Rejects long after the 500 ms operation timeout (reported once: as the timeout).
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: () => new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late')), 700).unref()),
  },
};

@Injectable()
class HangingShape {
  runs = 0;
  @CacheMemoize({ ttl: '1m', namespace: 'Shape.user', validate: neverSettles })
  async user(id: number): Promise<{ id: number; version: number }> {
    this.runs++;
    return { id, version: 2 };
  }
}

@Injectable()
class AsyncCheckedShape {
  runs = 0;
  @CacheMemoize({ ttl: '1m', namespace: 'Shape.user', validate: async (u: { version: number }) => u.version === 2 })
  async user(id: number): Promise<{ id: number; version: number }> {
    this.runs++;
    return { id, version: 2 };
  }
}

/** A schema answering with a thenable that is not a native promise (another promise library). */
const thenableVersionTwo: StandardSchemaLike = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) => {
      const result = (value as { version?: number }).version === 2 ? { value } : { issues: [{ message: 'v2' }] };
      return { then: (resolve: (r: typeof result) => void) => setTimeout(() => resolve(result), 1) } as never;
    },
  },
};

@Injectable()
class ThenableCheckedShape {
  runs = 0;
  @CacheMemoize({ ttl: '1m', namespace: 'Shape.user', validate: thenableVersionTwo })
  async user(id: number): Promise<{ id: number; version: number }> {
    this.runs++;
    return { id, version: 2 };
  }
}

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('validation on read on %s', (_name, makeStore) => {
  const boot = async (provider: Function, prefix: string, events: CacheEvent[] = []) => {
    const app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix, onEvent: (e) => events.push(e) }),
      ],
      providers: [provider as never],
    }).compile();
    return app.init();
  };
  type App = Awaited<ReturnType<typeof boot>>;
  /** A deploy under way: an app on the old code and one on the new on one prefix (new's events kept), both closed after. */
  const acrossDeploy = async (
    oldCode: Function,
    newCode: Function,
    name: string,
    body: (apps: { old: App; next: App; events: CacheEvent[]; prefix: string }) => Promise<void>,
  ) => {
    const prefix = uniquePrefix(name);
    const old = await boot(oldCode, prefix);
    const events: CacheEvent[] = [];
    const next = await boot(newCode, prefix, events);
    try {
      await body({ old, next, events, prefix });
    } finally {
      await old.close();
      await next.close();
    }
  };

  it('an entry of the old shape is a miss, deleted and recomputed', async () => {
    await acrossDeploy(OldShape, NewShape, 'shape', async ({ old, next, events }) => {
      await old.get(OldShape).user(1);
      await settle(old); // old's write lands
      expect(await next.get(NewShape).user(1)).toEqual({ id: 1, version: 2 });
      expect(next.get(NewShape).runs).toBe(1);
      expect(events).toContainEqual(expect.objectContaining({ type: 'invalid', migrated: false }));
      await written(events, cacheHandle(next.get(NewShape), 'user').keyOf(1)); // the recomputed one lands
      expect(await next.get(NewShape).user(1)).toEqual({ id: 1, version: 2 });
      expect(next.get(NewShape).runs).toBe(1);
    });
  });

  it.each([
    ['an async predicate', AsyncCheckedShape],
    ["a schema answering with another library's thenable", ThenableCheckedShape],
  ])('%s is awaited: the old shape is a miss, the current one a hit', async (_how, NewCode) => {
    await acrossDeploy(OldShape, NewCode, 'async-shape', async ({ old, next, events, prefix }) => {
      await old.get(OldShape).user(5);
      await settle(old);
      const svc = next.get<AsyncCheckedShape>(NewCode);
      expect(await svc.user(5)).toEqual({ id: 5, version: 2 });
      expect(svc.runs).toBe(1);
      expect(events).toContainEqual(expect.objectContaining({ type: 'invalid', migrated: false }));
      await written(events, cacheHandle(svc, 'user').keyOf(5));
      // A fresh instance of the new code reads the stored entry from the shared store and judges it.
      const reader = await boot(NewCode, prefix);
      const fresh = reader.get<AsyncCheckedShape>(NewCode);
      expect(await fresh.user(5)).toEqual({ id: 5, version: 2 });
      expect(fresh.runs).toBe(0);
      expect(await cacheHandle(fresh, 'user').peek(5)).toEqual({ value: { id: 5, version: 2 } });
      await reader.close();
    });
  });

  it('with migrate (and a Standard Schema) the old entry is upgraded, served and written back', async () => {
    await acrossDeploy(OldShape, MigratingShape, 'migrate', async ({ old, next, events, prefix }) => {
      await old.get(OldShape).user(2);
      await settle(old); // old's write lands
      expect(await next.get(MigratingShape).user(2)).toEqual({ id: 2, version: 2 });
      expect(next.get(MigratingShape).runs).toBe(0);
      expect(events).toContainEqual(expect.objectContaining({ type: 'invalid', migrated: true }));
      await settle(next); // the migrated value is written back in the background
      const reader = await boot(OldShape, prefix); // a fresh instance: no in-process copy of its own
      expect(await reader.get(OldShape).user(2)).toEqual({ id: 2, version: 2 }); // written back
      await reader.close();
    });
  });

  it('handle reads (peek, ttl, explain, peekMany) judge an entry as a call would: old shape none, migrated served', async () => {
    const prefix = uniquePrefix('peek-shape');
    const old = await boot(OldShape, prefix);
    const strict = await boot(NewShape, prefix);
    const migrating = await boot(MigratingShape, prefix);
    try {
      await old.get(OldShape).user(3);
      await settle(old);
      expect(await cacheHandle(old.get(OldShape), 'user').peek(3)).toEqual({ value: { id: 3, version: 1 } });
      const handle = cacheHandle(strict.get(NewShape), 'user');
      expect(await handle.peek(3)).toBeUndefined(); // a call would not serve it
      expect(await handle.ttl(3)).toBeUndefined();
      expect((await handle.explain(3)).state).toBe('miss');
      expect(await cacheHandle(strict.get(NewShape), 'users').peekMany([3])).toEqual([undefined]);
      expect(await cacheHandle(migrating.get(MigratingShape), 'user').peek(3)).toEqual({
        value: { id: 3, version: 2 },
      });
      expect(await handle.expireIn('1h', 3)).toBe(false); // none for expire either: not kept longer
      expect(await cacheHandle(old.get(OldShape), 'user').ttl(3)).toBeLessThanOrEqual(60_000);
      expect(strict.get(NewShape).runs + migrating.get(MigratingShape).runs).toBe(0); // reads never compute
      expect(await cacheHandle(old.get(OldShape), 'user').peek(3)).toEqual({ value: { id: 3, version: 1 } }); // nor write
    } finally {
      await old.close();
      await strict.close();
      await migrating.close();
    }
  });

  it("a caller waiting on another instance's lock judges the value it finds: an old-shape one is not served", async () => {
    await acrossDeploy(OldLocked, NewLocked, 'lock-shape', async ({ old, next, events }) => {
      const holder = old.get(OldLocked).user(7); // takes the lock, stores version 1 at ~400 ms
      await sleep(100);
      expect(await next.get(NewLocked).user(7)).toEqual({ id: 7, version: 2 });
      expect(next.get(NewLocked).runs).toBe(1);
      expect(events).toContainEqual(expect.objectContaining({ type: 'invalid', migrated: false }));
      expect(await holder).toEqual({ id: 7, version: 1 });
    });
  });

  it('a validator that does not answer within the operation timeout: the call computes, peek says none, reported once', async () => {
    await acrossDeploy(OldShape, HangingShape, 'hang-shape', async ({ old, next: hanging, events, prefix }) => {
      await old.get(OldShape).user(4);
      await settle(old);
      const svc = hanging.get(HangingShape);
      expect(await within(5_000, cacheHandle(svc, 'user').peek(4))).toBeUndefined();
      await settle(hanging);
      // Not judged, so not deleted: the old entry is still there before anything recomputes it
      // (read by a fresh instance: no in-process copy of its own).
      const reader = await boot(OldShape, prefix);
      expect(await cacheHandle(reader.get(OldShape), 'user').peek(4)).toEqual({ value: { id: 4, version: 1 } });
      await reader.close();
      expect(await within(5_000, svc.user(4))).toEqual({ id: 4, version: 2 });
      expect(svc.runs).toBe(1);
      await sleep(300); // past the late rejections
      const reported = events.filter((e) => e.type === 'error' && e.operation === 'validate');
      expect(reported).toHaveLength(2);
      expect(String((reported[0] as { error: unknown }).error)).toMatch(/HangingShape\.user.*did not settle within/);
      expect(events.some((e) => e.type === 'invalid')).toBe(false); // not judged: nothing deleted
      expect(await cacheHandle(old.get(OldShape), 'user').peek(4)).toBeDefined();
    });
  });
});

describe('result-driven options at bootstrap', () => {
  const boot = async (provider: Function) => {
    const app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({})],
      providers: [provider as never],
    }).compile();
    return app.init();
  };

  it('bad validate, migrate and cacheErrors options fail naming the method and the fix', async () => {
    @Injectable()
    class MigrateOnly {
      @CacheMemoize({ migrate: (old) => old as number })
      async m(id: number): Promise<number> {
        return id;
      }
    }
    await expect(boot(MigrateOnly)).rejects.toThrow(/@CacheMemoize on MigrateOnly.m: option migrate needs validate/);

    @Injectable()
    class BadValidate {
      @CacheMemoize({ validate: { parse: () => true } as unknown as StandardSchemaLike })
      async m(id: number): Promise<number> {
        return id;
      }
    }
    await expect(boot(BadValidate)).rejects.toThrow(/option validate must be a function .* or a Standard Schema/);

    @Injectable()
    class BadErrors {
      @CacheMemoize({ cacheErrors: { when: ['NotFound'] as never, ttl: '30s' } })
      async m(id: number): Promise<number> {
        return id;
      }
    }
    await expect(boot(BadErrors)).rejects.toThrow(/BadErrors.m: option cacheErrors.when must be/);

    @Injectable()
    class BadErrorTtl {
      @CacheMemoize({ cacheErrors: { when: [NotFoundException], ttl: 'soon' as '1m' } })
      async m(id: number): Promise<number> {
        return id;
      }
    }
    await expect(boot(BadErrorTtl)).rejects.toThrow(/BadErrorTtl.m: option cacheErrors.ttl/);

    @Injectable()
    class NoErrorTtl {
      @CacheMemoize({ cacheErrors: { when: [NotFoundException] } as never })
      async m(id: number): Promise<number> {
        return id;
      }
    }
    // Found by review: it said "got undefined undefined" and not that the option is required.
    await expect(boot(NoErrorTtl)).rejects.toThrow(
      "@CacheMemoize on NoErrorTtl.m: option cacheErrors.ttl is required (how long a cached error is served), e.g. cacheErrors: { when: [NotFoundException], ttl: '30s' }.",
    );
  });
});

class ProductGone extends NotFoundException {}

@Injectable()
class Hardened {
  runs = 0;
  fail = false;

  @CacheMemoize({ ttl: '1m', skip: (id: number) => id < 0 })
  async child(id: number): Promise<number> {
    cacheContext().setTtl(0); // speaks only for its own (uncached) run
    return id;
  }

  @CacheMemoize({ ttl: '1m' })
  async parent(id: number): Promise<{ id: number; run: number }> {
    const run = ++this.runs;
    await this.child(-id); // skipped: uncached, before the first await of parent
    return { id, run };
  }

  @CacheMemoize({ ttl: 30, staleIfError: '1m', tags: (id: number) => [`h:${id}`] })
  async slowFail(id: number): Promise<{ id: number; run: number }> {
    const run = ++this.runs;
    await sleep(this.fail ? 60 : 0);
    if (this.fail) throw new Error('down');
    return { id, run };
  }

  @CacheMemoize({ ttl: '1m', namespace: 'Hardened.item', cacheErrors: { when: [NotFoundException], ttl: '1m' } })
  async item(id: number): Promise<{ id: number }> {
    this.runs++;
    if (id === 404) throw new ProductGone(`gone ${id}`);
    return { id };
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'Hardened.item' })
  async items(ids: number[]): Promise<Array<{ id: number }>> {
    return ids.map((id) => ({ id }));
  }

  @CacheMemoize({ ttl: '1m', cacheErrors: { when: [NotFoundException], ttl: '1m' } })
  async echo(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.runs++;
    return body; // user-controlled data shaped like a cached error
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('result-driven caching holds under misuse on %s', (name, makeStore) => {
  let app: TestingModule;
  let h: Hardened;
  beforeEach(async () => {
    app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix: uniquePrefix('hard') })],
      providers: [Hardened],
    }).compile();
    await app.init();
    h = app.get(Hardened);
  });
  afterEach(() => app.close());

  it('cacheContext() in an uncached run neither throws nor speaks for the computation that called it', async () => {
    expect(await withCacheMode('bypass', () => h.child(3))).toBe(3);
    await h.parent(1);
    await settle(app);
    expect((await h.parent(1)).run).toBe(1); // the skipped child's setTtl(0) did not reach it
  });

  it('stale-if-error never serves an entry invalidated while the failing call ran', async () => {
    await h.slowFail(1);
    await settle(app); // its write lands after the call returns (until then, a call joins it)
    await sleep(60);
    h.fail = true;
    const call = h.slowFail(1);
    await sleep(10);
    await app.get(InvalidationService).invalidateTags(['h:1']);
    await expect(call).rejects.toThrow('down');
    h.fail = false;
  });

  it('the computing call gets the original error; batch items and peek never pass a cached error off as a value', async () => {
    const first = await h.item(404).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ProductGone);
    await settle(app);
    const hit = await h.item(404).catch((e: unknown) => e);
    expect(hit).toBeInstanceOf(NotFoundException);
    expect((hit as NotFoundException).getStatus()).toBe(404);
    if (name === 'memory') expect(hit).toBe(first);
    await expect(h.items([1, 404])).rejects.toBeInstanceOf(NotFoundException);
    expect(await cacheHandle(h, 'item').peek(404)).toBeUndefined();
  });

  it('a returned value shaped like a cached error is a value, on hits too', async () => {
    const forged = { name: 'NotFoundException', message: 'x', status: 302, response: { evil: true } };
    expect(await h.echo(forged)).toEqual(forged);
    await settle(app);
    expect(await h.echo(forged)).toEqual(forged);
    expect(h.runs).toBe(1);
  });
});

describe('cacheErrors and validate at bootstrap', () => {
  it('refuses a codec that would bring cached errors back as values, and namespaces whose sharers validate differently', async () => {
    @Injectable()
    class Errs {
      @CacheMemoize({ cacheErrors: { when: [NotFoundException], ttl: '30s' } })
      async m(id: number): Promise<number> {
        return id;
      }
    }
    const plainJson = {
      name: 'plain-json',
      encode: (v: unknown) => Buffer.from(JSON.stringify(v)),
      decode: (b: Uint8Array) => JSON.parse(Buffer.from(b).toString()) as unknown,
    };
    const boot = async (provider: Function, serializer?: typeof plainJson) => {
      const store = redisStore({ url: servers.redis });
      try {
        const m = await Test.createTestingModule({
          imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, serializer })],
          providers: [provider as never],
        }).compile();
        await m.init();
        await m.close();
      } finally {
        await store.disconnect(); // a failed bootstrap never reaches the module's shutdown
      }
    };
    await expect(boot(Errs, plainJson)).rejects.toThrow(/Errs.m: option cacheErrors needs a codec .* 'plain-json'/);

    @Injectable()
    class Mixed {
      @CacheMemoize({ namespace: 'Mixed.u', validate: (u: { v: number }) => u.v === 2 })
      async one(id: number): Promise<{ v: number }> {
        return { v: id };
      }
      @CacheMemoizeMany({ namespace: 'Mixed.u' })
      async many(ids: number[]): Promise<Array<{ v: number }>> {
        return ids.map((v) => ({ v }));
      }
    }
    await expect(boot(Mixed)).rejects.toThrow(/shares namespace 'Mixed.u' with Mixed.one but not its validate option/);
  });
});
