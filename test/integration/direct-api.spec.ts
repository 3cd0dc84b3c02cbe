/**
 * The direct API and regions (issue 19): CacheService on every store, regions with inheritance
 * and their own stores, region-bound injection, and memoized methods of classes Nest never creates.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  BatchResultError,
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeModule,
  CacheService,
  InjectCache,
  InvalidationService,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  regionsFromConfig,
  tieredStore,
  type CacheEvent,
  type CacheMemoizeModuleOptions,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';
import { written as entryWritten } from '../support/written';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Reports {
  runs = 0;
  @CacheMemoize({ ttl: '1m', tags: ['reports'] })
  async monthly(month: string): Promise<{ month: string; run: number }> {
    return { month, run: ++this.runs };
  }

  @CacheMemoize({ region: 'long' })
  async yearly(year: number): Promise<number> {
    return year + ++this.runs;
  }
}

@Injectable()
class Warmer {
  constructor(
    readonly cache: CacheService,
    @InjectCache('long') readonly long: CacheService,
  ) {}
}

async function app(store: () => CacheStore, options: Partial<CacheMemoizeModuleOptions> = {}) {
  const events: CacheEvent[] = [];
  const module: TestingModule = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: store(), other: memoryStore() },
        prefix: options.prefix ?? uniquePrefix('direct'),
        onEvent: (e) => events.push(e),
        regions: {
          short: { ttl: '1m' },
          long: { ttl: '1h', grace: '10m', parent: 'short' },
          elsewhere: { parent: 'long', store: 'other' },
        },
        ...options,
      }),
    ],
    providers: [Reports, Warmer],
  }).compile();
  await module.init();
  return {
    module,
    cache: module.get(CacheService),
    invalidation: module.get(InvalidationService),
    reports: module.get(Reports),
    engine: module.get(CacheMemoizeEngine),
    warmer: module.get(Warmer),
    /** Writes land in the background after getOrSet returns: waits (bounded) for the key's 'set' event. */
    written: async (key: string) => {
      const full = module.get(CacheService).keyOf(key);
      await entryWritten(events, full);
    },
  };
}

const stores: Array<[string, () => CacheStore]> = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
];

// First in the file: no app of this Jest module registry has started yet.
describe('before the module is initialized', () => {
  it('calls run the method itself, with one warning', async () => {
    const warnings: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    let runs = 0;
    class Early {
      @CacheMemoize({ instanceKey: () => 'shared' })
      async value(): Promise<number> {
        return ++runs;
      }
    }
    await new Early().value();
    await new Early().value();
    expect(runs).toBe(2);
    expect(
      warnings.filter((w) => w.includes('Early.value was called before CacheMemoizeModule was initialized')),
    ).toHaveLength(1);
    const a = await app(() => memoryStore());
    await new Early().value();
    await new Early().value();
    expect(runs).toBe(3);
    spy.mockRestore();
    await a.module.close();
  });
});

describe.each(stores)('CacheService on %s', (name, store) => {
  let a: Awaited<ReturnType<typeof app>>;
  beforeEach(async () => {
    a = await app(store);
  });
  afterEach(() => a.module.close());

  it('reads and expire take { store, region }; reads also validate, migrate: judged as getOrSet would, read-only', async () => {
    await a.cache.set('there', 'other', { store: 'other' });
    expect(await a.cache.get('there')).toBeUndefined(); // the service's own store
    expect(await a.cache.get('there', { store: 'other' })).toBe('other');
    expect(await a.cache.has('there', { region: 'elsewhere' })).toBe(true);
    expect(await a.cache.expire('there', '1h')).toBe(false); // not in the service's own store
    expect(await a.cache.expire('there', '1h', { store: 'other' })).toBe(true);
    expect(await a.cache.ttl('there', { store: 'other' })).toBeGreaterThan(59 * 60_000);
    expect(await a.cache.expireAt('there', Date.now() + 2 * 3_600_000, { region: 'elsewhere' })).toBe(true);
    expect(await a.cache.ttl('there', { region: 'elsewhere' })).toBeGreaterThan(119 * 60_000);
    await expect(a.cache.expire('there', '1h', { store: 'nope' as never })).rejects.toThrow(/CacheService/);

    await a.cache.set('shape', { v: 1 });
    const shared = name !== 'memory'; // in-process values were computed by the running code: not judged
    const v2 = (x: { v: number }) => x.v === 2;
    const migrate = (old: unknown) => ({ ...(old as { v: number }), v: 2 });
    expect(await a.cache.get('shape', { validate: v2 })).toEqual(shared ? undefined : { v: 1 });
    expect(await a.cache.has('shape', { validate: v2 })).toBe(!shared);
    expect(await a.cache.ttl('shape', { validate: v2 })).toEqual(shared ? undefined : expect.any(Number));
    expect(await a.cache.getMany(['shape', 'none'], { validate: v2 })).toEqual([
      shared ? undefined : { v: 1 },
      undefined,
    ]);
    expect(await a.cache.get('shape', { validate: v2, migrate })).toEqual(shared ? { v: 2 } : { v: 1 });
    expect(await a.cache.get('shape')).toEqual({ v: 1 }); // nothing deleted or written back
    await expect(a.cache.get('shape', { validate: 3 as never })).rejects.toThrow(
      /CacheService: option validate must be a function/,
    );
  });

  it('getOrSet computes once for concurrent callers, then hits; get, has, peek, ttl see it', async () => {
    let runs = 0;
    const factory = async () => {
      runs++;
      await sleep(20);
      return { total: 42 };
    };
    const values = await Promise.all(Array.from({ length: 20 }, () => a.cache.getOrSet('report:2026', factory)));
    expect(values.every((v) => v.total === 42)).toBe(true);
    expect(runs).toBe(1);
    // Before the write lands, a call joins the computation (a miss): wait for it to count a hit.
    await a.written('report:2026');
    expect(await a.cache.getOrSet('report:2026', factory)).toEqual({ total: 42 });
    expect(runs).toBe(1);
    expect(await a.cache.get('report:2026')).toEqual({ total: 42 });
    expect(await a.cache.has('report:2026')).toBe(true);
    expect(await a.cache.has('report:2025')).toBe(false);
    expect(await a.cache.get('report:2025')).toBeUndefined();
    const peeked = await a.cache.peek('report:2026');
    expect(peeked).toMatchObject({ value: { total: 42 }, stale: false });
    expect(peeked!.ttl).toBeGreaterThan(4 * 60_000); // the module's default 5m
    // Every caller that found no value counts as a miss (the 19 joined the one computation).
    expect(a.engine.stats().byNamespace.CacheService).toMatchObject({ misses: 20, hits: 1 });
    expect(a.cache.keyOf('report:2026')).toMatch(/:~direct:"report:2026"$/);
  });

  it('set, expire, expireAt and delete', async () => {
    await a.cache.set('k', 'v', { ttl: '1h' });
    expect(await a.cache.get('k')).toBe('v');
    expect(await a.cache.ttl('k')).toBeGreaterThan(59 * 60_000);
    expect(await a.cache.expire('k', '10s')).toBe(true);
    const left = (await a.cache.ttl('k'))!;
    expect(left).toBeGreaterThan(5_000);
    expect(left).toBeLessThanOrEqual(10_000);
    expect(await a.cache.expireAt('k', new Date(Date.now() + 30 * 60_000))).toBe(true);
    expect(await a.cache.ttl('k')).toBeGreaterThan(20 * 60_000);
    expect(await a.cache.expire('k', 0)).toBe(true);
    expect(await a.cache.get('k')).toBeUndefined();
    expect(await a.cache.expire('missing', '1m')).toBe(false);
    await a.cache.set('gone', 1);
    await a.cache.delete('gone', 'never-set');
    expect(await a.cache.get('gone')).toBeUndefined();
    let runs = 0;
    expect(await a.cache.getOrSet('gone', () => ++runs)).toBe(1);
  });

  it('expire keeps the staleIfError window it is given, and refuses what validate refuses', async () => {
    const unit = name === 'memcached' ? 1_000 : 100; // memcached keeps whole seconds
    const sie = { staleIfError: '1h' } as const;
    await a.cache.set('quote', 41, sie);
    await a.cache.set('bare', 41, sie);
    expect(await a.cache.expire('quote', unit, sie)).toBe(true);
    expect(await a.cache.expire('bare', unit)).toBe(true); // the service's own window: none
    // validate judges values read from shared stores (in-process ones were computed by this code).
    const refused = await a.cache.expire('quote', unit, { ...sie, validate: (v: number) => v > 100 });
    expect(refused).toBe(name === 'memory');
    await sleep(unit * 2 + 300);
    const failing = (): number => {
      throw new Error('feed down');
    };
    expect(await a.cache.getOrSet('quote', failing, sie)).toBe(41); // stale, kept for its window
    await expect(a.cache.getOrSet('bare', failing, sie)).rejects.toThrow('feed down');
  });

  it('takes the ttl from the value, and cacheIf decides what is stored', async () => {
    let runs = 0;
    const opts = { ttl: (v: { final: boolean }) => (v.final ? '1h' : 0), cacheIf: (v: { final: boolean }) => v.final };
    const draft = () => a.cache.getOrSet('draft', () => ({ final: false, run: ++runs }), opts);
    await draft();
    await draft();
    expect(runs).toBe(2); // ttl 0: not stored
    await a.cache.getOrSet('final', () => ({ final: true, run: ++runs }), opts);
    await a.written('final');
    expect(await a.cache.ttl('final')).toBeGreaterThan(59 * 60_000);
  });

  it('tags bust direct keys and decorated methods together; invalidateKeys busts by keyOf', async () => {
    let runs = 0;
    await a.cache.getOrSet('summary', () => ++runs, { tags: ['reports'] });
    await a.reports.monthly('2026-11');
    await a.invalidation.invalidateTags(['reports']);
    expect(await a.cache.get('summary')).toBeUndefined();
    expect(await a.cache.getOrSet('summary', () => ++runs, { tags: ['reports'] })).toBe(2);
    expect((await a.reports.monthly('2026-11')).run).toBe(2);
    await a.invalidation.invalidateKeys([a.cache.keyOf('summary')]);
    expect(await a.cache.has('summary')).toBe(false);
  });

  it('getOrSetMany computes only the missing keys, in one factory call, from an array or a Map', async () => {
    await a.cache.set('u:1', 'one');
    const calls: string[][] = [];
    const got = await a.cache.getOrSetMany(['u:1', 'u:2', 'u:3', 'u:2'], async (missing) => {
      calls.push(missing);
      return missing.map((k) => k.toUpperCase());
    });
    expect(got).toEqual(['one', 'U:2', 'U:3', 'U:2']);
    expect(calls).toEqual([['u:2', 'u:3']]);
    const byMap = await a.cache.getOrSetMany(
      ['u:3', 'u:4'],
      async (missing) => new Map(missing.map((k) => [k, `m${k}`])),
    );
    expect(byMap).toEqual(['U:3', 'mu:4']);
    await a.written('u:4');
    expect(await a.cache.getMany(['u:1', 'u:4', 'u:9'])).toEqual(['one', 'mu:4', undefined]);
    await expect(a.cache.getOrSetMany(['x:1', 'x:2'], async () => ['only one'])).rejects.toBeInstanceOf(
      BatchResultError,
    );
    expect(await a.cache.has('x:1')).toBe(false); // nothing of a misaligned result is stored
  });

  it('regions: inherited defaults, their own store, and region-bound services', async () => {
    await a.cache.region('long').set('year', 2026);
    const peek = await a.cache.region('long').peek('year');
    expect(peek!.ttl).toBeGreaterThan(59 * 60_000); // long's 1h, not the module's 5m
    await a.cache.region('short').set('minute', 1);
    expect(await a.cache.region('short').ttl('minute')).toBeLessThanOrEqual(60_000);
    // 'elsewhere' inherits long's ttl and lives in the 'other' store.
    await a.cache.region('elsewhere').set('far', 'away');
    expect(await a.cache.region('elsewhere').ttl('far')).toBeGreaterThan(59 * 60_000);
    expect(await a.cache.get('far')).toBeUndefined(); // not in the default store
    expect(await a.engine.memoizer('other').inspect(a.cache.keyOf('far'))).toMatchObject({ state: 'fresh' });
    // @InjectCache('long') is the same region-bound service.
    expect(await a.warmer.long.get('year')).toBe(2026);
    expect(a.warmer.cache).toBe(a.cache);
    // @CacheMemoize({ region: 'long' }): the method's entries take the region's ttl.
    await a.reports.yearly(2026);
    await settle(a.module); // the entry's write lands after the call returns
    expect(await cacheHandle(a.reports, 'yearly').ttl(2026)).toBeGreaterThan(59 * 60_000);
    expect(() => a.cache.region('nope')).toThrow(
      /region "nope" is not configured; known regions: short, long, elsewhere/,
    );
  });
});

describe('CacheService across instances on redis', () => {
  it('two apps share direct keys; a delete in one is seen by the other at once', async () => {
    const prefix = uniquePrefix('two');
    const a = await app(() => redisStore({ url: servers.redis }), { prefix });
    const b = await app(() => redisStore({ url: servers.redis }), { prefix });
    let runs = 0;
    for (let i = 0; i < 50; i++) {
      await a.cache.getOrSet(`k${i}`, () => ++runs);
      await a.written(`k${i}`);
      expect(await b.cache.get(`k${i}`)).toBe(runs);
      await b.cache.delete(`k${i}`);
      expect(await a.cache.get(`k${i}`)).toBeUndefined();
    }
    await a.module.close();
    await b.module.close();
  });
});

describe('regions at bootstrap', () => {
  const boot = (options: Partial<CacheMemoizeModuleOptions>, providers: Function[] = []) =>
    Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, ...options })],
      providers: providers as never[],
    })
      .compile()
      .then((m) => m.init());

  it('an unknown region on a method fails naming the method and the region', async () => {
    @Injectable()
    class Typo {
      @CacheMemoize({ region: 'lnog' })
      async get(): Promise<number> {
        return 1;
      }
    }
    await expect(boot({ regions: { long: { ttl: '1h' } } }, [Typo])).rejects.toThrow(
      /@CacheMemoize on Typo\.get: option region: region "lnog" is not configured; known regions: long/,
    );
  });

  it('@InjectCache of a region the app does not configure fails the boot, naming the class', async () => {
    @Injectable()
    class NeedsNowhere {
      constructor(@InjectCache('nowhere') readonly cache: CacheService) {}
    }
    await expect(boot({ regions: { long: { ttl: '1h' } } }, [NeedsNowhere])).rejects.toThrow(
      /@InjectCache\('nowhere'\) in NeedsNowhere: region "nowhere" is not configured; known regions: long/,
    );
    // Other apps of the process, which do not inject it, boot (the decorator's provider is global).
    await (await boot({ regions: { long: { ttl: '1h' } } })).close();
  });

  it('cycles, unknown parents, unknown stores and unknown options fail naming the region', async () => {
    await expect(boot({ regions: { a: { parent: 'b' }, b: { parent: 'a' } } })).rejects.toThrow(/regions a -> b -> a/);
    await expect(boot({ regions: { a: { parent: 'z' } } })).rejects.toThrow(
      /regions\.a\.parent "z" is not a configured region/,
    );
    await expect(boot({ regions: { a: { store: 'redis' } } })).rejects.toThrow(/regions\.a .*names store 'redis'/);
    await expect(boot({ regions: { a: { tll: '1h' } as never } })).rejects.toThrow(
      /regions\.a\.tll is not a region option/,
    );
  });

  it('regionsFromConfig reads flat, prefixed and nested configuration', () => {
    expect(
      regionsFromConfig(
        {
          'cache.short.ttl': '1m',
          'cache.long.ttl': '1h',
          'cache.long.parent': 'short',
          'cache.long.lock': 'true',
          other: 1,
        },
        'cache.',
      ),
    ).toEqual({ short: { ttl: '1m' }, long: { ttl: '1h', parent: 'short', lock: true } });
    expect(regionsFromConfig({ long: { ttl: '1h', store: 'shared' } })).toEqual({
      long: { ttl: '1h', store: 'shared' },
    });
    expect(() => regionsFromConfig({ 'long.tll': '1h' })).toThrow(/'long\.tll' is not a region option/);
    expect(() => regionsFromConfig({ ttl: '1h' })).toThrow(/'ttl' is not '<region>\.<option>'/);
  });
});

describe.each(stores)('methods of classes Nest does not create, on %s', (_name, store) => {
  class Invoice {
    static runs = 0;
    constructor(
      readonly id: number,
      readonly lines: number[],
    ) {}

    @CacheMemoize({ instanceKey: (self: Invoice) => self.id, tags: ['invoices'] })
    async total(currency: string): Promise<string> {
      Invoice.runs++;
      return `${this.lines.reduce((s, n) => s + n, 0)} ${currency}`;
    }
  }

  afterEach(() => (Invoice.runs = 0));

  it('are memoized per instanceKey and arguments, and invalidated by method, instance and tag', async () => {
    const a = await app(store);
    const one = new Invoice(1, [1, 2]);
    expect(await one.total('EUR')).toBe('3 EUR');
    expect(await new Invoice(1, [1, 2]).total('EUR')).toBe('3 EUR'); // same id: same entry
    expect(Invoice.runs).toBe(1);
    expect(await new Invoice(2, [5]).total('EUR')).toBe('5 EUR');
    expect(await one.total('USD')).toBe('3 USD');
    expect(Invoice.runs).toBe(3);
    await a.invalidation.invalidateMethod(Invoice, 'total', ['EUR'], { instance: one });
    await one.total('EUR');
    await new Invoice(2, [5]).total('EUR');
    expect(Invoice.runs).toBe(4);
    await a.invalidation.invalidateTags(['invoices']);
    await new Invoice(2, [5]).total('EUR');
    expect(Invoice.runs).toBe(5);
    await settle(a.module); // its write lands after the call returns
    expect(await cacheHandle(new Invoice(2, [5]), 'total').peek('EUR')).toEqual({ value: '5 EUR' });
    expect(await cacheHandle(one, 'total').peek('EUR')).toBeUndefined(); // busted by the tag, not recomputed since
    await a.module.close();
    // After the app closes, calls run the method itself.
    await one.total('EUR');
    expect(Invoice.runs).toBe(6);
  });
});

describe('CacheService reads on a tiered store', () => {
  it('validate judges the shared value even where an unvalidated call left a copy in this process', async () => {
    const a = await app(() => tieredStore(memoryStore(), redisStore({ url: servers.redis })));
    try {
      await a.cache.set('shape', { v: 1 }); // the in-process copy too
      expect(await a.cache.peek('shape')).toMatchObject({ value: { v: 1 }, stale: false });
      const v2 = (x: { v: number }) => x.v === 2;
      expect(await a.cache.get('shape', { validate: v2 })).toBeUndefined();
      const migrate = (old: unknown) => ({ ...(old as { v: number }), v: 2 });
      expect(await a.cache.get('shape', { validate: v2, migrate })).toEqual({ v: 2 });
      expect(await a.cache.get('shape')).toEqual({ v: 1 }); // nothing deleted or written back
    } finally {
      await a.module.close();
    }
  });
});
