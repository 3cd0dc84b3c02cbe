import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  InvalidOptionError,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheMemoizeManyOptions,
  type CacheMemoizeModuleOptions,
  type CacheMemoizeOptions,
} from '../../lib';
import { sharedServers } from '../support/shared-servers';

/*
 * Durations a timer waits cannot pass 2^31 - 1 ms (~24.8 days): Node runs a longer timer after
 * 1 ms, so `timeout: { hard: '30d' }` failed every call at once and `operationTimeout: '30d'`
 * made every store call time out. No duration may pass Number.MAX_SAFE_INTEGER (a store's
 * expiry). refreshAhead must be shorter than the ttl, timeout.soft than timeout.hard. Each is
 * refused at bootstrap, naming the option and the limit; each case was accepted before.
 */

const servers = sharedServers();
let cleanup: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});
beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));

async function boot(options: CacheMemoizeOptions, module: CacheMemoizeModuleOptions = {}) {
  @Injectable()
  class Svc {
    runs = 0;
    @CacheMemoize(options)
    async get(id: number): Promise<number> {
      this.runs++;
      return id;
    }
  }
  const app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, ...module })],
    providers: [Svc],
  }).compile();
  await app.init();
  return { app, svc: app.get(Svc) };
}

const refused = (run: () => Promise<unknown> | unknown) =>
  Promise.resolve()
    .then(run)
    .then(
      () => undefined,
      (e: unknown) => e,
    );

describe('durations past what a timer or a store can hold are refused at bootstrap', () => {
  it.each([
    [
      { timeout: { hard: '30d' } },
      "@CacheMemoize on Svc.get: option timeout.hard: duration 30d is longer than 2147483647 ms (about 24.8 days), the longest a Node timer can wait: a longer one fires at once. Use at most '24d'.",
    ],
    [
      { grace: '1m', timeout: { soft: 2 ** 31 } },
      '@CacheMemoize on Svc.get: option timeout.soft: duration 2147483648 is longer than 2147483647 ms',
    ],
    [
      { ttl: 1e300 },
      '@CacheMemoize on Svc.get: option ttl: duration 1e+300 is longer than 9007199254740991 ms (Number.MAX_SAFE_INTEGER), the longest a store can hold.',
    ],
  ] as Array<[CacheMemoizeOptions, string]>)('%j', async (options, message) => {
    const error = await refused(() => boot(options));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain(message);
  });

  it('module options operationTimeout and connectTimeout', async () => {
    for (const [option, name] of [
      [{ operationTimeout: '30d' }, 'operationTimeout'],
      [{ connectTimeout: '25d' }, 'connectTimeout'],
    ] as const) {
      const error = await refused(() => boot({}, option));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain(`option ${name}: duration`);
      expect((error as Error).message).toContain('the longest a Node timer can wait');
    }
  });

  it('store options that are timers: redis commandTimeout, memcached timeout, tiered lease', async () => {
    const attempts: Array<[() => unknown, string]> = [
      [() => redisStore({ url: servers.redis, commandTimeout: '30d' }), 'redisStore(): commandTimeout'],
      [() => memcachedStore({ servers: servers.memcached[0], timeout: '30d' }), 'memcachedStore(): timeout'],
      [() => tieredStore(memoryStore(), l2, { lease: '30d' }), 'tieredStore(): lease'],
    ];
    const l2 = redisStore({ url: servers.redis });
    cleanup = () => l2.disconnect();
    for (const [make, where] of attempts) {
      const error = await refused(make);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain(`${where}: duration 30d is longer than 2147483647 ms`);
    }
  });

  it("the longest a timer can wait is accepted, and a call under timeout.hard '24d' is served", async () => {
    const { app, svc } = await boot({ timeout: { hard: '24d' } }, { operationTimeout: 2 ** 31 - 1 });
    try {
      expect([await svc.get(1), await svc.get(1), svc.runs]).toEqual([1, 1, 1]);
    } finally {
      await app.close();
    }
  });
});

describe('option pairs that defeat each other are refused at bootstrap', () => {
  it('refreshAhead as long as the ttl (every hit would start a refresh)', async () => {
    const pairs: CacheMemoizeOptions[] = [
      { ttl: '1m', refreshAhead: '1m' },
      { ttl: '1m', refreshAhead: '2m' },
    ];
    for (const options of pairs) {
      const error = await refused(() => boot(options));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain('@CacheMemoize on Svc.get: refreshAhead (');
      expect((error as Error).message).toContain(
        'must be shorter than ttl (60000 ms): every hit would start a refresh',
      );
    }
    // Against the module's ttl when the method sets none.
    const error = await refused(() => boot({ refreshAhead: '5m' }, { ttl: '5m' }));
    expect((error as Error).message).toContain('must be shorter than ttl (300000 ms)');
    const { app, svc } = await boot({ ttl: '1m', refreshAhead: '59s' });
    await app.close();
    expect(svc.runs).toBe(0);
  });

  it('timeout.soft not shorter than timeout.hard (the call would fail before stale could be served)', async () => {
    const error = await refused(() => boot({ grace: '1m', timeout: { soft: '10s', hard: '1s' } }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toBe(
      '@CacheMemoize on Svc.get: timeout.soft (10000 ms) must be shorter than timeout.hard (1000 ms): the hard timeout would fail the call before the soft one could serve the stale value.',
    );
  });
});

describe('module options that would be ignored are refused at bootstrap', () => {
  const bootModule = async (options: object, async = false) => {
    const module = async
      ? CacheMemoizeModule.forRootAsync({ useFactory: () => options as CacheMemoizeModuleOptions })
      : CacheMemoizeModule.forRoot(options as CacheMemoizeModuleOptions);
    const app = await Test.createTestingModule({ imports: [module] }).compile();
    await app.init();
    await app.close();
  };

  it.each([
    [
      { operationTimout: '2s' },
      false,
      "CacheMemoizeModule.forRoot(): unknown option 'operationTimout'. Did you mean 'operationTimeout'?",
    ],
    [
      { ttl: '1m', stors: {} },
      true,
      "CacheMemoizeModule.forRootAsync(): unknown option 'stors'. Did you mean 'stores'?",
    ],
    [
      { isGlobal: false },
      true,
      "CacheMemoizeModule.forRootAsync(): unknown option 'isGlobal': isGlobal goes beside the factory",
    ],
    [{ cacheTtl: 5 }, false, "unknown option 'cacheTtl'. Known options: stores, defaultStore, ttl,"],
    [
      { enabled: 'false' },
      true,
      'CacheMemoizeModule.forRootAsync(): option enabled must be true or false, got string "false"',
    ],
    [{ stats: 0 }, false, 'option stats must be true or false, got number 0'],
  ] as Array<[object, boolean, string]>)('%j (forRootAsync: %s)', async (options, async, message) => {
    const error = await refused(() => bootModule(options, async));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain(message);
  });

  it('isGlobal beside forRoot() options is still the module switch, not an option', async () => {
    await expect(bootModule({ isGlobal: false, ttl: '1m' })).resolves.toBeUndefined();
  });

  // Found by review: each of these booted, and the option was ignored (a typo inside timeout left
  // a method that never settles unbounded) or failed later with a plain TypeError.
  it.each([
    [{ hooks: { onhit: () => undefined } }, false, "option hooks has no 'onhit' (did you mean 'onHit'?)"],
    [{ hooks: 'x' }, false, 'option hooks must be an object such as { onHit, onMiss, onStale, onError }'],
    [{ onEvent: 'debug' }, false, 'option onEvent must be a function of each event'],
    [{ serializer: {} }, true, 'option serializer must have encode(value) and decode(bytes)'],
    [{ compress: { threshhold: '10kb' } }, false, "option compress has no 'threshhold' (did you mean 'threshold'?)"],
    [{ compress: { algoritm: 'gzip' } }, false, "option compress has no 'algoritm' (did you mean 'algorithm'?)"],
    [
      { stores: [memoryStore()] },
      false,
      'stores must be an object naming each store, e.g. { default: memoryStore() }, got an array',
    ],
    [{ stores: null }, true, 'stores must be an object naming each store, e.g. { default: memoryStore() }, got null'],
    [
      { regions: { long: { lock: { timeot: '1s' } } } },
      false,
      "regions.long: option lock has no 'timeot' (did you mean 'timeout'?)",
    ],
    [
      { regions: { long: { timeout: { hrad: '1s' } } } },
      false,
      "regions.long: option timeout has no 'hrad' (did you mean 'hard'?)",
    ],
    [null, true, 'CacheMemoizeModule.forRootAsync(): the options factory returned null. Return the options'],
    [undefined, true, 'CacheMemoizeModule.forRootAsync(): the options factory returned undefined. Return the options'],
    [
      ['a'],
      true,
      'CacheMemoizeModule.forRootAsync(): the options must be an object such as { stores: { default: memoryStore() } }, got an array: does the factory return them?',
    ],
    [{ isGlobal: 'false' }, false, 'CacheMemoizeModule: isGlobal must be true or false, got the string "false"'],
  ] as Array<[object, boolean, string]>)(
    'nested or shaped wrong: %j (forRootAsync: %s)',
    async (options, async, message) => {
      const error = await refused(() => bootModule(options, async));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain(message);
    },
  );

  // Found by review of the refusals above: these are not mistakes.
  it('isGlobal left undefined (a wrapper passing its own optional flag on) is the default: global', async () => {
    const wrapper: { isGlobal?: boolean } = {};
    const module = CacheMemoizeModule.forRoot({ isGlobal: wrapper.isGlobal });
    expect(module.global).toBe(true);
    expect(CacheMemoizeModule.forRootAsync({ isGlobal: wrapper.isGlobal, useFactory: () => ({}) }).global).toBe(true);
  });

  it('hooks given as a class instance (a dependency field, a helper) boot and fire, module and decorator', async () => {
    class Metrics {
      hits = 0;
    }
    class MetricsHooks {
      constructor(private readonly metrics: Metrics) {}
      private readonly label = (what: string) => `cache ${what}`;
      onHit = () => void (this.metrics.hits += this.label('hit') === 'cache hit' ? 1 : 0);
    }
    const moduleMetrics = new Metrics();
    const methodMetrics = new Metrics();
    @Injectable()
    class Hooked {
      @CacheMemoize({ hooks: new MetricsHooks(methodMetrics) })
      async get(id: number): Promise<number> {
        return id;
      }
      @CacheMemoize()
      async other(id: number): Promise<number> {
        return id;
      }
    }
    const app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ hooks: new MetricsHooks(moduleMetrics) })],
      providers: [Hooked],
    }).compile();
    await app.init();
    const hooked = app.get(Hooked);
    for (let i = 0; i < 3; i++) await Promise.all([hooked.get(1), hooked.other(1)]);
    expect([methodMetrics.hits, moduleMetrics.hits]).toEqual([2, 2]);
    await app.close();
  });

  it('hooks written as methods of a class are called as methods (this is their object)', async () => {
    class Counting {
      hits = 0;
      misses = 0;
      onHit() {
        this.hits++;
      }
      onMiss() {
        this.misses++;
      }
      onInit = () => undefined; // a helper of its own, not a misspelt hook
    }
    const hooks = new Counting();
    const { app, svc } = await boot({}, { hooks });
    cleanup = () => app.close();
    for (let i = 0; i < 3; i++) await svc.get(1);
    expect([hooks.misses, hooks.hits]).toEqual([1, 2]);
  });

  it.each(['onhit', 'onMis', 'onErr', 'onHits', 'onMissed'])('a hook function misspelt %s is refused', async (name) => {
    const error = await refused(() => bootModule({ hooks: { [name]: () => undefined } }));
    expect((error as Error).message).toMatch(new RegExp(`option hooks has no '${name}' \\(did you mean 'on`));
  });

  it('isGlobal from a forRootAsync() call that is not a boolean is refused too', () => {
    expect(() =>
      CacheMemoizeModule.forRootAsync({ isGlobal: 'false' as unknown as boolean, useFactory: () => ({}) }),
    ).toThrow(/isGlobal must be true or false, got the string "false"/);
  });

  it.each([
    [
      { lock: { timeot: '1s' } },
      "@CacheMemoize on Svc.get: option lock has no 'timeot' (did you mean 'timeout'?); it takes timeout, ttl.",
    ],
    [
      { timeout: { hrad: '1s' } },
      "@CacheMemoize on Svc.get: option timeout has no 'hrad' (did you mean 'hard'?); it takes soft, hard.",
    ],
    [
      { hooks: { onMis: () => undefined } },
      "@CacheMemoize on Svc.get: option hooks has no 'onMis' (did you mean 'onMiss'?)",
    ],
    [
      { namespace: 'catalog..products' },
      'namespace parts are separated by single dots (\'catalog.products\'), got "catalog..products"',
    ],
    [{ namespace: '.catalog' }, 'namespace parts are separated by single dots'],
  ] as Array<[CacheMemoizeOptions, string]>)('decorator: %j', async (options, message) => {
    const error = await refused(() => boot(options));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain(message);
  });
});

describe('decorator options that would be ignored are told at bootstrap', () => {
  it('a typo in a @CacheMemoize or @CacheMemoizeMany option is warned once, with the option it meant', async () => {
    @Injectable()
    class Typos {
      @CacheMemoize({ ttL: '1s', tag: ['x'] } as unknown as CacheMemoizeOptions)
      async get(id: number): Promise<number> {
        return id;
      }

      @CacheMemoizeMany({ ttl: '1m', maxbatch: 10 } as unknown as CacheMemoizeManyOptions)
      async many(ids: number[]): Promise<number[]> {
        return ids;
      }

      @CacheMemoizeMany({ ttl: '1m', maxBatch: 10, region: 'hot', result: 'array', cacheMissing: false })
      async fine(ids: number[]): Promise<number[]> {
        return ids;
      }
    }
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const app = await Test.createTestingModule({
        imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, regions: { hot: { ttl: '10s' } } })],
        providers: [Typos],
      }).compile();
      await app.init();
      await app.close();
      const told = warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes('unknown option'));
      expect(told).toEqual([
        "@CacheMemoize on Typos.get: unknown options 'ttL' (did you mean 'ttl'?), 'tag' (did you mean 'tags'?), ignored.",
        "@CacheMemoizeMany on Typos.many: unknown option 'maxbatch' (did you mean 'maxBatch'?), ignored.",
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});
