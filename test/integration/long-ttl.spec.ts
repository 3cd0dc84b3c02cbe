import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeModule,
  CacheService,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  type CacheEvent,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * Found by review: a ttl the module accepts (finite, above 0) but a store could not express. On
 * memcached, an expiry past 2106 made memjs throw (version records live twice the longest entry
 * lifetime, so one method's "forever" failed every invalidation in the app), and one past 2038
 * was stored as already expired.
 */
const servers = sharedServers();
const stores: Array<[string, () => CacheStore]> = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
];

@Injectable()
class Catalog {
  countriesRuns = 0;
  /** "Cache forever". */
  @CacheMemoize({ ttl: Number.MAX_SAFE_INTEGER })
  async countries(): Promise<string[]> {
    this.countriesRuns++;
    return ['fr', 'de'];
  }

  priceRuns = 0;
  @CacheMemoize({ ttl: '1m', tags: (sku: string) => [`sku:${sku}`] })
  async price(sku: string): Promise<string> {
    return `${sku}:${++this.priceRuns}`;
  }
}

describe.each(stores)('a ttl of decades, or "forever", on %s', (_name, make) => {
  let app: TestingModule;
  const events: CacheEvent[] = [];
  beforeAll(async () => {
    app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: make() },
          prefix: uniquePrefix('long-ttl'),
          onEvent: (e) => events.push(e),
        }),
      ],
      providers: [Catalog],
    }).compile();
    await app.init();
  });
  afterAll(() => app.close());

  it.each(['5475d', '14600d', '36500d', Number.MAX_SAFE_INTEGER] as const)(
    'ttl %s: set, get, getOrSet',
    async (ttl) => {
      const cache = app.get(CacheService);
      await cache.set(`k-${ttl}`, 'v', { ttl });
      expect(await cache.get(`k-${ttl}`)).toBe('v');
      let runs = 0;
      const first = await cache.getOrSet(`g-${ttl}`, async () => ++runs, { ttl });
      const second = await cache.getOrSet(`g-${ttl}`, async () => ++runs, { ttl });
      expect([first, second, runs]).toEqual([1, 1, 1]);
      expect(await cache.expire(`k-${ttl}`, ttl)).toBe(true);
      expect(await cache.get(`k-${ttl}`)).toBe('v');
    },
  );

  it('one method\'s "forever" leaves the others caching and invalidating', async () => {
    const catalog = app.get(Catalog);
    const invalidation = app.get(InvalidationService);
    await catalog.countries();
    expect(await catalog.countries()).toEqual(['fr', 'de']);
    expect(await catalog.price('a')).toBe('a:1');
    expect(await catalog.price('a')).toBe('a:1');
    await invalidation.invalidateTags(['sku:a']);
    expect(await catalog.price('a')).toBe('a:2');
    expect(catalog.countriesRuns).toBe(1);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
  });
});
