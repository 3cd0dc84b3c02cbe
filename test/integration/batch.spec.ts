/**
 * @CacheMemoizeMany on every store: one lookup for the whole list, one method call with only the
 * missing ids, each item its own entry shared with the single-item method of the namespace, and
 * every guarantee of a single call per item (invalidation races across instances, single-flight
 * across overlapping calls and processes).
 */
import 'reflect-metadata';
import { Controller, Get, Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import {
  BatchResultError,
  CacheMemoize,
  CacheMemoizeErrorCode,
  CacheMemoizeMany,
  CacheMemoizeModule,
  cacheHandle,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  withCacheMode,
  type CacheStore,
} from '../../lib';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { appOn } from '../support/app-on';
import { RedisServer } from '../support/servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type User = { id: number; v: number; org: number };
/** The "database": a version per user id, read when a computation starts. */
const db = new Map<number, number>();

@Injectable()
class UsersService {
  /** The id lists each batch call was given. */
  calls: number[][] = [];
  single: number[] = [];
  delayMs = 0;

  @CacheMemoizeMany({ ttl: '1m', tags: (id: number) => [`user:${id}`], namespace: 'Users.byId' })
  async getUsers(ids: number[]): Promise<Array<User | null>> {
    this.calls.push([...ids]);
    const out = ids.map((id) => (id < 0 ? null : { id, v: db.get(id) ?? 0, org: id % 2 }));
    if (this.delayMs > 0) await sleep(this.delayMs);
    return out;
  }

  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`], namespace: 'Users.byId' })
  async getUser(id: number): Promise<User | null> {
    this.single.push(id);
    return { id, v: db.get(id) ?? 0, org: id % 2 };
  }
}

/** A single and a batch method of one namespace, each delegating to the other (their natural shape). */
@Injectable()
class PairService {
  loads: number[][] = [];

  @CacheMemoize({ ttl: '1m', namespace: 'Pair.item' })
  async one(id: number): Promise<string> {
    const [item] = await this.many([id]);
    return item;
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'Pair.item' })
  async many(ids: number[]): Promise<string[]> {
    this.loads.push([...ids]);
    return ids.map((id) => `item ${id}`);
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'Pair.other' })
  async manyViaOne(ids: number[]): Promise<string[]> {
    return Promise.all(ids.map((id) => this.oneDirect(id)));
  }

  @CacheMemoize({ ttl: '1m', namespace: 'Pair.other' })
  async oneDirect(id: number): Promise<string> {
    this.loads.push([-id]);
    return `other ${id}`;
  }

  @CacheMemoizeMany({ ttl: '1m', result: 'map', namespace: 'Pair.sorted' })
  async sorted(ids: number[]): Promise<Map<number, string>> {
    ids.sort((a, b) => a - b); // in place, as a query builder might
    return new Map(ids.map((id) => [id, `user ${id}`]));
  }

  @CacheMemoizeMany({ ttl: '1m', result: 'record', namespace: 'Pair.record' })
  async record(ids: Array<string | number>): Promise<Record<string, string>> {
    return Object.fromEntries(ids.map((id) => [String(id), `v${String(id)}`]));
  }
}

@Injectable()
class CatalogService {
  calls: unknown[][] = [];

  @CacheMemoizeMany({ ttl: '1m', result: 'map' })
  async prices(skus: string[], currency: string): Promise<Map<string, string>> {
    this.calls.push(['prices', ...skus]);
    return new Map(skus.filter((s) => !s.startsWith('gone')).map((s) => [s, `${s}:${currency}`]));
  }

  @CacheMemoizeMany({ ttl: '1m', result: 'map', cacheMissing: false })
  async strictPrices(skus: string[]): Promise<Map<string, string>> {
    this.calls.push(['strict', ...skus]);
    return new Map(skus.filter((s) => !s.startsWith('gone')).map((s) => [s, s]));
  }

  @CacheMemoizeMany({ ttl: '1m', result: 'record' })
  async stock(skus: string[]): Promise<Record<string, number>> {
    this.calls.push(['stock', ...skus]);
    return Object.fromEntries(skus.map((s) => [s, s.length]));
  }

  @CacheMemoizeMany({ ttl: '1m', maxBatch: 3 })
  async chunked(ids: number[]): Promise<number[]> {
    this.calls.push(['chunked', ...ids]);
    return ids.map((id) => id * 10);
  }

  @CacheMemoizeMany({ ttl: '1m' })
  async misaligned(ids: number[]): Promise<number[]> {
    this.calls.push(['misaligned', ...ids]);
    return ids.length > 1 ? ids.slice(1) : ids;
  }

  @CacheMemoizeMany({ ttl: '1m' })
  async notDeclaredMap(ids: number[]): Promise<Map<number, number>> {
    return new Map(ids.map((id) => [id, id]));
  }

  failNext = false;
  @CacheMemoizeMany({ ttl: '1m' })
  async flaky(ids: number[]): Promise<number[]> {
    this.calls.push(['flaky', ...ids]);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('database down');
    }
    return ids.map((id) => id + 1);
  }

  @CacheMemoizeMany({ ttl: '1m', resultTags: (user: User) => [`org:${user.org}`] })
  async members(ids: number[]): Promise<User[]> {
    this.calls.push(['members', ...ids]);
    return ids.map((id) => ({ id, v: db.get(id) ?? 0, org: id % 2 }));
  }

  @CacheMemoizeMany({ ttl: '1m', cacheIf: (n: number) => n > 0 })
  async positive(ids: number[]): Promise<number[]> {
    this.calls.push(['positive', ...ids]);
    return ids.map((id) => id);
  }

  @CacheMemoizeMany({ ttl: '1m', skip: (ids: number[]) => ids.length === 0 || ids.includes(0) })
  async skippable(ids: number[]): Promise<number[]> {
    this.calls.push(['skippable', ...ids]);
    return ids;
  }
}

const stores: Array<[string, () => CacheStore]> = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['redis cluster', () => redisStore({ cluster: servers.cluster })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
];

const instance = (store: CacheStore, prefix: string): Promise<TestingModule> =>
  appOn(store, prefix, [UsersService, CatalogService, PairService]);

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each(stores)('@CacheMemoizeMany on %s', (_name, makeStore) => {
  let app: TestingModule;
  let users: UsersService;
  let catalog: CatalogService;
  let invalidation: InvalidationService;
  beforeEach(async () => {
    db.clear();
    app = await instance(makeStore(), uniquePrefix('batch'));
    users = app.get(UsersService);
    catalog = app.get(CatalogService);
    invalidation = app.get(InvalidationService);
  });
  afterEach(() => app.close());

  it('calls the method once with only the missing ids, deduplicated, and answers in the caller order', async () => {
    const first = await users.getUsers([1, 2, 3]);
    expect(first.map((u) => u?.id)).toEqual([1, 2, 3]);
    await settle(app);
    const second = await users.getUsers([3, 4, 2, 4, 5, -1, 3]);
    expect(second.map((u) => u?.id ?? null)).toEqual([3, 4, 2, 4, 5, null, 3]);
    expect(users.calls).toEqual([
      [1, 2, 3],
      [4, 5, -1],
    ]);
    await settle(app);
    expect((await users.getUsers([-1, 5, 1])).map((u) => u?.id ?? null)).toEqual([null, 5, 1]);
    expect(users.calls).toHaveLength(2); // null is cached like any value
    expect(await users.getUsers([])).toEqual([]);
    expect(users.calls).toHaveLength(2);
  });

  it('shares entries with the single-item method of its namespace, both ways', async () => {
    await users.getUser(7);
    await settle(app);
    await users.getUsers([7, 8]);
    expect(users.calls).toEqual([[8]]);
    await settle(app);
    expect(await users.getUser(8)).toEqual({ id: 8, v: 0, org: 0 });
    expect(users.single).toEqual([7]);
  });

  it('busts one item of every list by tag, by method, by the batch method and through its handle', async () => {
    await users.getUsers([1, 2, 3, 4, 5]);
    await settle(app);
    db.set(2, 1);
    await invalidation.invalidateTags(['user:2']);
    expect((await users.getUsers([1, 2, 3])).map((u) => u?.v)).toEqual([0, 1, 0]);
    expect(users.calls.at(-1)).toEqual([2]);
    await settle(app);
    await invalidation.invalidateMethod(UsersService, 'getUser', [3]);
    await users.getUsers([1, 2, 3]);
    expect(users.calls.at(-1)).toEqual([3]);
    await settle(app);
    await invalidation.invalidateMethod(UsersService, 'getUsers', [[1, 4]]);
    await users.getUsers([1, 2, 3, 4]);
    expect(users.calls.at(-1)).toEqual([1, 4]);
    await settle(app);
    await cacheHandle(users, 'getUser').invalidate(5);
    await cacheHandle(users, 'getUsers').invalidateMany([1]);
    await users.getUsers([1, 2, 3, 4, 5]);
    expect(users.calls.at(-1)).toEqual([1, 5]);
  });

  it('overlapping concurrent calls compute each id once and wait only for what another call computes', async () => {
    users.delayMs = 40;
    const [a, b, c] = await Promise.all([
      users.getUsers([1, 2, 3, 4]),
      users.getUsers([3, 4, 5, 6]),
      users.getUsers([6, 1, 7]),
    ]);
    expect(a.map((u) => u?.id)).toEqual([1, 2, 3, 4]);
    expect(b.map((u) => u?.id)).toEqual([3, 4, 5, 6]);
    expect(c.map((u) => u?.id)).toEqual([6, 1, 7]);
    const computed = users.calls.flat().sort((x, y) => x - y);
    expect(computed).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(users.calls).toHaveLength(3);
  });

  it('map and record results: an id the map leaves out is cached as undefined, or not with cacheMissing: false', async () => {
    const prices = await catalog.prices(['a', 'gone1', 'b', 'a'], 'EUR');
    expect([...prices.entries()]).toEqual([
      ['a', 'a:EUR'],
      ['b', 'b:EUR'],
    ]);
    await settle(app);
    expect([...(await catalog.prices(['gone1', 'b'], 'EUR')).entries()]).toEqual([['b', 'b:EUR']]);
    expect([...(await catalog.prices(['b'], 'USD')).entries()]).toEqual([['b', 'b:USD']]); // rest is part of the key
    expect(catalog.calls).toEqual([
      ['prices', 'a', 'gone1', 'b'],
      ['prices', 'b'],
    ]);

    await catalog.strictPrices(['x', 'gone2']);
    await settle(app);
    await catalog.strictPrices(['x', 'gone2']);
    expect(catalog.calls.slice(2)).toEqual([
      ['strict', 'x', 'gone2'],
      ['strict', 'gone2'],
    ]);

    expect(await catalog.stock(['ab', 'abc'])).toEqual({ ab: 2, abc: 3 });
    await settle(app);
    expect(await catalog.stock(['abc', 'z'])).toEqual({ abc: 3, z: 1 });
    expect(catalog.calls.slice(4)).toEqual([
      ['stock', 'ab', 'abc'],
      ['stock', 'z'],
    ]);
  });

  it('a result not aligned with its ids is an error naming the method and the ids, and nothing is cached', async () => {
    const error = await catalog.misaligned([1, 2, 3]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchResultError);
    expect((error as BatchResultError).code).toBe(CacheMemoizeErrorCode.BatchResult);
    expect((error as Error).message).toContain('CatalogService.misaligned was called with 3 ids [1, 2, 3]');
    expect((error as BatchResultError).ids).toEqual([1, 2, 3]);
    await settle(app);
    await expect(catalog.misaligned([1])).resolves.toEqual([1]);
    expect(catalog.calls).toEqual([
      ['misaligned', 1, 2, 3],
      ['misaligned', 1],
    ]);
    await expect(catalog.notDeclaredMap([1])).rejects.toThrow(/declare result: 'map'/);
  });

  it('maxBatch splits the missing ids into several method calls', async () => {
    expect(await catalog.chunked([1, 2, 3, 4, 5, 6, 7])).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(catalog.calls).toEqual([
      ['chunked', 1, 2, 3],
      ['chunked', 4, 5, 6],
      ['chunked', 7],
    ]);
  });

  it('a failing method rejects every caller and caches nothing', async () => {
    catalog.failNext = true;
    await expect(catalog.flaky([1, 2])).rejects.toThrow('database down');
    await expect(catalog.flaky([1, 2])).resolves.toEqual([2, 3]);
    expect(catalog.calls).toEqual([
      ['flaky', 1, 2],
      ['flaky', 1, 2],
    ]);
  });

  it('resultTags and cacheIf apply per item; skip bypasses the whole call', async () => {
    await catalog.members([1, 2, 3]);
    await settle(app);
    await invalidation.invalidateTags(['org:1']); // ids 1 and 3
    await catalog.members([1, 2, 3]);
    expect(catalog.calls.at(-1)).toEqual(['members', 1, 3]);

    await catalog.positive([0, 1]);
    await settle(app);
    await catalog.positive([0, 1]);
    expect(catalog.calls.at(-1)).toEqual(['positive', 0]);

    await catalog.skippable([0, 1]);
    await catalog.skippable([0, 1]);
    expect(catalog.calls.filter((c) => c[0] === 'skippable')).toHaveLength(2);
  });

  it('a single and a batch method that call each other never wait for themselves', async () => {
    const pair = app.get(PairService);
    expect(await pair.one(1)).toBe('item 1');
    expect(await pair.many([1, 2])).toEqual(['item 1', 'item 2']);
    expect(await pair.manyViaOne([3, 4])).toEqual(['other 3', 'other 4']);
    await settle(app);
    expect(await pair.one(2)).toBe('item 2');
    expect(await pair.manyViaOne([3, 4, 5])).toEqual(['other 3', 'other 4', 'other 5']);
    expect(pair.loads).toEqual([[1], [2], [-3], [-4], [-5]]);
  });

  it('a method that reorders its ids in place never moves items under other ids; record keys are unambiguous', async () => {
    const pair = app.get(PairService);
    expect([...(await pair.sorted([3, 1, 2])).entries()]).toEqual([
      [3, 'user 3'],
      [1, 'user 1'],
      [2, 'user 2'],
    ]);
    await settle(app);
    expect([...(await pair.sorted([1])).entries()]).toEqual([[1, 'user 1']]);
    await expect(pair.record([1, '1'])).rejects.toThrow(/two of them are "1" as record keys/);
    // 0 and -0 are keyed apart, but are one number: one record entry answers both (found by review).
    await expect(pair.record([-0, '0'])).rejects.toThrow(/with 2 ids \[-0, "0"\]: two of them are "0"/);
    expect(await pair.record([0, -0])).toEqual({ 0: 'v0' });
    // NaN twice is one id, as it is one key (NaN !== NaN refused it; found by review).
    expect(await pair.record([NaN, NaN])).toEqual({ NaN: 'vNaN' });
    const odd = await pair.record(['__proto__', 'x']);
    expect(Object.keys(odd)).toEqual(['__proto__', 'x']);
    expect(Object.getPrototypeOf(odd)).toBe(Object.prototype);
  });

  it('a caller that refills its id array after the call still gets each item under its own id', async () => {
    // A buffer flushed and refilled (a DataLoader-like accumulator): map and record results are
    // shaped after the await, from the ids as they were when called (found by review).
    const pending = ['a', 'b'];
    const miss = catalog.prices(pending, 'EUR');
    pending.splice(0, 2, 'c');
    expect([...(await miss).entries()]).toEqual([
      ['a', 'a:EUR'],
      ['b', 'b:EUR'],
    ]);
    const stock = ['ab', 'abc'];
    await catalog.stock(stock);
    const hit = catalog.stock(stock); // every id cached
    stock[0] = 'z';
    expect(await hit).toEqual({ ab: 2, abc: 3 });
    const refreshed = cacheHandle(catalog, 'stock').refresh(stock);
    stock[0] = 'y';
    expect(await refreshed).toEqual({ z: 1, abc: 3 });
    await settle(app);
    stock[0] = 'z';
    const peeked = cacheHandle(catalog, 'stock').peek(stock);
    stock[0] = 'x';
    expect(await peeked).toEqual({ value: { z: 1, abc: 3 } });
  });

  it('handle: keysOf, peekMany, refreshMany, explainMany; refresh mode recomputes the list', async () => {
    const handle = cacheHandle(users, 'getUsers');
    expect(handle.keysOf([1, 2])).toEqual([
      cacheHandle(users, 'getUser').keyOf(1),
      cacheHandle(users, 'getUser').keyOf(2),
    ]);
    await users.getUsers([1]);
    await settle(app);
    const peeked = await handle.peekMany([1, 2]);
    expect(peeked).toEqual([{ value: { id: 1, v: 0, org: 1 } }, undefined]);
    expect(await handle.peek([1, 2])).toBeUndefined();
    expect((await handle.explainMany([1, 2])).map((e) => e.state)).toEqual(['fresh', 'miss']);
    db.set(1, 5);
    db.set(2, 5);
    expect((await handle.refreshMany([1, 2])).map((u) => u?.v)).toEqual([5, 5]);
    expect(users.calls.at(-1)).toEqual([1, 2]);
    expect(await handle.peek([1, 2])).toEqual({
      value: [
        { id: 1, v: 5, org: 1 },
        { id: 2, v: 5, org: 0 },
      ],
    });
    db.set(1, 6);
    await withCacheMode('refresh', () => users.getUsers([1]));
    expect((await users.getUsers([1]))[0]?.v).toBe(6);
    expect(() => handle.keyOf([1])).toThrow(/keysOf/);
    expect(() => (cacheHandle(users, 'getUser') as unknown as { keysOf(ids: number[]): string[] }).keysOf([1])).toThrow(
      /not a @CacheMemoizeMany/,
    );
  });
});

describe('@CacheMemoizeMany across instances (redis and tiered)', () => {
  it.each([
    ['redis', () => redisStore({ url: servers.redis })],
    ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
    ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ] as Array<[string, () => CacheStore]>)(
    '%s: a batch computing while another instance invalidates never stores or serves the old item (200 races)',
    async (_name, makeStore) => {
      const prefix = uniquePrefix('batchrace');
      const a = await instance(makeStore(), prefix);
      const b = await instance(makeStore(), prefix);
      try {
        const usersA = a.get(UsersService);
        const usersB = b.get(UsersService);
        let stale = 0;
        for (let round = 0; round < 200; round++) {
          const id = 1000 + (round % 7);
          db.set(id, round);
          usersA.delayMs = round % 3 === 0 ? 0 : 5 + (round % 11);
          // A starts a batch that reads version `round`; meanwhile B's write + invalidation complete.
          const inFlight = usersA.getUsers([id, id + 100]);
          await sleep(round % 4);
          db.set(id, round + 1);
          await b.get(InvalidationService).invalidateTags([`user:${id}`]);
          // Every call that starts now, in either instance, single or batch, sees the new version.
          const after = await Promise.all([
            usersA.getUsers([id]),
            usersB.getUsers([id, id + 100]),
            usersA.getUser(id),
            usersB.getUser(id),
          ]);
          const versions = [after[0][0]?.v, after[1][0]?.v, after[2]?.v, after[3]?.v];
          if (versions.some((v) => v !== round + 1)) stale++;
          await inFlight;
        }
        expect(stale).toBe(0);
      } finally {
        await a.close();
        await b.close();
      }
    },
    60_000,
  );

  it('lock: true computes each id once across two instances', async () => {
    @Injectable()
    class LockedUsers {
      static computed: number[] = [];
      @CacheMemoizeMany({ ttl: '1m', lock: { timeout: '5s' } })
      async getUsers(ids: number[]): Promise<number[]> {
        LockedUsers.computed.push(...ids);
        await sleep(50);
        return ids.map((id) => id * 2);
      }
    }
    const prefix = uniquePrefix('batchlock');
    const make = async () => {
      const app = await Test.createTestingModule({
        imports: [CacheMemoizeModule.forRoot({ stores: { default: redisStore({ url: servers.redis }) }, prefix })],
        providers: [LockedUsers],
      }).compile();
      return app.init();
    };
    const [a, b] = await Promise.all([make(), make()]);
    try {
      const results = await Promise.all([
        a.get(LockedUsers).getUsers([1, 2, 3, 4]),
        b.get(LockedUsers).getUsers([4, 3, 2, 1]),
        b.get(LockedUsers).getUsers([5, 1]),
      ]);
      expect(results).toEqual([
        [2, 4, 6, 8],
        [8, 6, 4, 2],
        [10, 2],
      ]);
      expect([...LockedUsers.computed].sort()).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('@CacheMemoizeMany on redis: round trips', () => {
  it('a list of 100 ids with 10 missing (evicted) is one MGET, one method call with the 10, and 10 writes', async () => {
    const prefix = uniquePrefix('batchrt');
    const server = await RedisServer.launch(); // its own: command counts of a shared server include other suites'
    const app = await instance(redisStore({ url: server.url }), prefix);
    const client = new Redis(server.url);
    const commands = async () => {
      const stats = await client.info('commandstats');
      return Object.fromEntries(
        [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter(([, n]) => n !== 'config').map(([, n, c]) => [n, +c]),
      );
    };
    try {
      const users = app.get(UsersService);
      const handle = cacheHandle(users, 'getUsers');
      const ids = Array.from({ length: 100 }, (_, i) => i + 1);
      await users.getUsers(ids);
      await settle(app);
      const missing = ids.filter((id) => id % 10 === 0);
      await client.del(...handle.keysOf(missing)); // evicted
      await client.config('RESETSTAT');
      users.calls = [];
      const result = await users.getUsers(ids);
      await settle(app);
      expect(result.map((u) => u?.id)).toEqual(ids);
      expect(users.calls).toEqual([missing]);
      expect(await commands()).toEqual({ mget: 1, set: 10 });
    } finally {
      client.disconnect();
      await app.close();
      await server.stop();
    }
  });
});

describe('@CacheMemoizeMany at bootstrap', () => {
  const boot = async (providers: Function[], controllers: Function[] = []) => {
    const app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({})],
      providers: providers as never[],
      controllers: controllers as never[],
    }).compile();
    await app.init();
    return app;
  };

  it('refuses a route handler, both decorators on one method and bad options, naming the method', async () => {
    @Controller('x')
    class XController {
      @Get()
      @CacheMemoizeMany()
      async list(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    await expect(boot([], [XController])).rejects.toThrow(
      /@CacheMemoizeMany on XController.list: a route handler .* put @CacheMemoizeMany on the provider method/,
    );

    @Injectable()
    class Both {
      @CacheMemoize()
      @CacheMemoizeMany()
      async list(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    await expect(boot([Both])).rejects.toThrow(/Both.list has both @CacheMemoize and @CacheMemoizeMany/);

    @Injectable()
    class BadBatch {
      @CacheMemoizeMany({ maxBatch: 0 })
      async list(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    await expect(boot([BadBatch])).rejects.toThrow(
      /@CacheMemoizeMany on BadBatch.list: option maxBatch must be a positive integer/,
    );

    @Injectable()
    class BadResult {
      @CacheMemoizeMany({ result: 'list' as 'array' })
      async list(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    await expect(boot([BadResult])).rejects.toThrow(/option result must be 'array', 'map' or 'record'/);

    @Injectable()
    class BadTtl {
      @CacheMemoizeMany({ ttl: 'soon' as '1m' })
      async list(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    await expect(boot([BadTtl])).rejects.toThrow(/@CacheMemoizeMany on BadTtl.list: option ttl/);
  });

  it('a batch method and a single method of one namespace are allowed; two single methods are not', async () => {
    @Injectable()
    class A {
      @CacheMemoize({ namespace: 'shared.one' })
      async one(id: number): Promise<number> {
        return id;
      }
      @CacheMemoizeMany({ namespace: 'shared.one' })
      async many(ids: number[]): Promise<number[]> {
        return ids;
      }
      @CacheMemoize({ namespace: 'shared.one' })
      async other(id: number): Promise<number> {
        return id;
      }
    }
    await expect(boot([A])).rejects.toThrow(/namespace 'shared.one' is already used by A.one/);
  });

  it('class defaults apply to batch items as to single methods; methods sharing items must share store and version', async () => {
    @Injectable()
    @CacheMemoize({ version: 2, tags: ['users'] })
    class Defaults {
      calls: number[][] = [];
      @CacheMemoize({ namespace: 'D.user' })
      async one(id: number): Promise<number> {
        this.calls.push([id]);
        return id;
      }
      @CacheMemoizeMany({ namespace: 'D.user' })
      async many(ids: number[]): Promise<number[]> {
        this.calls.push(ids);
        return ids;
      }
    }
    const app = await boot([Defaults]);
    const d = app.get(Defaults);
    await d.many([1]);
    expect(cacheHandle(d, 'many').keysOf([1])).toEqual([cacheHandle(d, 'one').keyOf(1)]);
    await d.one(1);
    expect(d.calls).toEqual([[1]]);
    await app.get(InvalidationService).invalidateTags(['users']);
    await d.one(1);
    expect(d.calls).toEqual([[1], [1]]);
    await app.close();

    @Injectable()
    class Apart {
      @CacheMemoize({ namespace: 'Apart.user', version: 1 })
      async one(id: number): Promise<number> {
        return id;
      }
      @CacheMemoizeMany({ namespace: 'Apart.user' })
      async many(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    await expect(boot([Apart])).rejects.toThrow(/shares namespace 'Apart.user' with Apart.one but not its version/);
  });

  it('a method that does not return a Promise is refused at bootstrap', async () => {
    @Injectable()
    class Sync {
      // @ts-expect-error the decorator's type refuses it too
      @CacheMemoizeMany()
      list(ids: number[]): number[] {
        return ids;
      }
    }
    await expect(boot([Sync])).rejects.toThrow(
      /Sync.list: it returns Array synchronously; a batch method must return a Promise/,
    );
  });

  it('a first argument that is not an array calls the method uncached', async () => {
    const app = await boot([UsersService, CatalogService]);
    const users = app.get(UsersService);
    await expect((users.getUsers as (ids: unknown) => Promise<unknown>)(undefined)).rejects.toThrow(TypeError);
    await app.close();
  });
});
