/**
 * Adversarial review of the direct API and regions (issue 19). Each test states the guarantee it
 * checks; a failing test is a defect (see the review report).
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeModule,
  CacheService,
  InjectCache,
  cacheHandle,
  regionsFromConfig,
  memoryStore,
  redisStore,
  type CacheEvent,
  type CacheMemoizeModuleOptions,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { written as entryWritten } from '../support/written';

const servers = sharedServers();

/** Every module a test opens is closed after it, failed or not. */
const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

async function boot(
  store: () => CacheStore,
  options: Partial<CacheMemoizeModuleOptions> = {},
  providers: Function[] = [],
) {
  const events: CacheEvent[] = [];
  const module: TestingModule = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: store() },
        prefix: uniquePrefix('rvdirect'),
        onEvent: (e) => events.push(e),
        ...options,
      }),
    ],
    providers: providers as never[],
  }).compile();
  opened.push(module);
  await module.init();
  const cache = module.get(CacheService);
  return {
    module,
    cache,
    events,
    written: async (key: string) => {
      const full = cache.keyOf(key);
      await entryWritten(events, full);
    },
  };
}

describe("direct keys are raw strings: they can spell the library's own records", () => {
  it("a direct key ending in ':~lock' is the lock record of another direct key", async () => {
    const a = await boot(() => redisStore({ url: servers.redis }));
    // Guarantee: "a direct key never meets" anything but itself.
    expect(a.cache.keyOf('report:~lock')).not.toBe(`${a.cache.keyOf('report')}:~lock`);
    await a.module.close();
  });

  it("an entry under 'x:~lock' makes every locked computation of 'x' wait its whole lock timeout", async () => {
    const a = await boot(() => redisStore({ url: servers.redis }));
    // e.g. keys built from user input: `${tenant}:~lock` is a legal direct key.
    await a.cache.set('x:~lock', 'anything', { ttl: '1h' });
    const opts = { lock: { timeout: '400ms' } } as const;
    expect(await a.cache.getOrSet('x', () => 1, opts)).toBe(1);
    const lockEvents = a.events.filter((e) => e.type === 'lock').map((e) => (e as { outcome: string }).outcome);
    // Nobody holds x's lock: it must be acquired at once (no 'waited' or 'timeout' before it).
    expect(lockEvents).toEqual(['acquired']);
    await a.module.close();
  });

  it("a direct key starting with '#' names the entry of a hashed (long or non-ASCII) key", async () => {
    const a = await boot(() => memoryStore());
    const secretKey = 'session token for alice'; // a space: hashed
    await a.cache.set(secretKey, { user: 'alice', role: 'admin' });
    const spelled = '#' + createHash('sha256').update(secretKey).digest('base64url');
    expect(a.cache.keyOf(spelled)).not.toBe(a.cache.keyOf(secretKey));
    expect(await a.cache.get(spelled)).toBeUndefined();
    await a.module.close();
  });
});

describe('CacheService calls reject, they do not throw synchronously', () => {
  it('an empty key or bad options reject the returned promise', async () => {
    const a = await boot(() => memoryStore());
    let thrown: unknown;
    let promise: Promise<unknown> | undefined;
    try {
      promise = a.cache.getOrSet('', () => 1);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined(); // `cache.getOrSet(k, f).catch(...)` must be enough
    await promise?.catch(() => undefined);
    thrown = undefined;
    try {
      promise = a.cache.getOrSetMany(['ok', ''], async (m) => m);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    await promise?.catch(() => undefined);
    await a.module.close();
  });
});

describe('getOrSetMany with enabled: false behaves like enabled: true', () => {
  it('a record without the key gives undefined, not an inherited property', async () => {
    const a = await boot(() => memoryStore(), { enabled: false });
    const got = await a.cache.getOrSetMany(['constructor', 'toString'], async () => ({}) as Record<string, string>);
    expect(got).toEqual([undefined, undefined]);
    await a.module.close();
  });

  it('a misaligned array is refused (BatchResultError), as when enabled', async () => {
    const a = await boot(() => memoryStore(), { enabled: false });
    await expect(a.cache.getOrSetMany(['a', 'b'], async () => ['only one'])).rejects.toThrow(/returned 1 values/);
    await a.module.close();
  });
});

describe('region precedence', () => {
  it("a method's region beats the class's defaults (the method's own options win, then its region)", async () => {
    @CacheMemoize({ ttl: '5s' })
    @Injectable()
    class Catalogue {
      @CacheMemoize({ region: 'long' })
      async all(): Promise<number> {
        return 1;
      }
    }
    const a = await boot(() => memoryStore(), { regions: { long: { ttl: '1h' } } }, [Catalogue]);
    const c = a.module.get(Catalogue);
    await c.all();
    expect(await cacheHandle(c, 'all').ttl()).toBeGreaterThan(59 * 60_000);
    await a.module.close();
  });
});

describe('@InjectCache and the order modules are evaluated in', () => {
  it('a class declared after CacheMemoizeModule.forRoot() was evaluated can inject its region', async () => {
    // A common layout: cache.module.ts (imports CacheMemoizeModule.forRoot(...)) is loaded before
    // the feature files that use @InjectCache. The dynamic module is built here, first.
    const dynamic = CacheMemoizeModule.forRoot({
      stores: { default: memoryStore() },
      regions: { lateRegion: { ttl: '1h' } },
    });
    @Injectable()
    class LateFeature {
      constructor(@InjectCache('lateRegion') readonly cache: CacheService) {}
    }
    const module = await Test.createTestingModule({ imports: [dynamic], providers: [LateFeature] }).compile();
    await module.init();
    expect(module.get(LateFeature).cache).toBeInstanceOf(CacheService);
    await module.close();
  });
});

describe('regionsFromConfig on untrusted-looking keys', () => {
  it("a '__proto__' region is refused with a clear error and never writes Object.prototype", () => {
    try {
      expect(() => regionsFromConfig({ '__proto__.lock': 'true', 'long.ttl': '1h' })).toThrow(
        /'__proto__' cannot name a region/,
      );
      expect(({} as { lock?: unknown }).lock).toBeUndefined();
      expect(() => regionsFromConfig(JSON.parse('{"__proto__": {"ttl": "1h"}}'))).toThrow(/cannot name a region/);
      expect(({} as { ttl?: unknown }).ttl).toBeUndefined();
    } finally {
      delete (Object.prototype as { lock?: unknown }).lock;
      delete (Object.prototype as { ttl?: unknown }).ttl;
    }
  });
});
