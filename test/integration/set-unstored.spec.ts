/*
 * CacheService.set (and handle.set, refresh) whose value cannot be written: the value it replaces
 * is not served on. A value the codec refuses, or a store that refuses the write (full under
 * noeviction), invalidates the key instead; when that invalidation fails too, this instance stops
 * serving the key (a failed invalidation, retried). Before, set() resolved and every read kept
 * returning the old value. Found by review; the store-full case failed before the last change, the
 * refused-value case before refresh-declined's.
 */
import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoizeModule, CacheService, redisStore, type CacheEvent, type CacheStore } from '../../lib';
import { RedisServer } from '../support/servers';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

async function boot(store: CacheStore, prefix = uniquePrefix('setfail')) {
  const events: CacheEvent[] = [];
  const module: TestingModule = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix, onEvent: (e) => void events.push(e) })],
  }).compile();
  await module.init();
  return { module, events, cache: module.get(CacheService) };
}

describe('set() of a value that cannot be written', () => {
  it('a value the codec refuses (an unregistered class instance): the previous value is not served', async () => {
    const prefix = uniquePrefix('setrefused');
    const a = await boot(redisStore({ url: servers.redis }), prefix);
    const b = await boot(redisStore({ url: servers.redis }), prefix);
    try {
      class Quote {
        constructor(readonly price: number) {}
      }
      await a.cache.set('quote', { price: 1 });
      await settle(a.module);
      expect(await b.cache.get('quote')).toEqual({ price: 1 });
      await a.cache.set('quote', new Quote(2));
      await settle(a.module, b.module);
      expect(a.events.some((e) => e.type === 'uncacheable')).toBe(true);
      expect(await a.cache.get('quote')).toBeUndefined();
      expect(await b.cache.get('quote')).toBeUndefined();
    } finally {
      await a.module.close();
      await b.module.close();
    }
  });

  it('a full Redis (noeviction) refusing the write: set() resolves, and get is a miss, never the replaced value', async () => {
    const server = await RedisServer.launch(['--maxmemory-policy', 'noeviction']);
    const a = await boot(redisStore({ url: server.url }));
    try {
      await a.cache.set('price', { amount: 100 });
      await settle(a.module);
      expect(await a.cache.get('price')).toEqual({ amount: 100 });
      server.cli('config', 'set', 'maxmemory', '1'); // full: every write is refused (OOM), reads work
      await a.cache.set('price', { amount: 120 });
      await settle(a.module);
      expect(await a.cache.get('price')).toBeUndefined();
    } finally {
      await a.module.close();
      await server.stop();
    }
  });
});
