/*
 * set() on instance A of a full Redis (noeviction: every write refused, DEL still works): instance
 * B must not serve the replaced value (found by review: the bucket's token write was refused and
 * the entry's delete after it never ran). A version write that fails now deletes the entries.
 */
import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoizeModule, CacheService, redisStore, type CacheStore } from '../../lib';
import { RedisServer } from '../support/servers';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

async function boot(store: CacheStore, prefix: string) {
  const module: TestingModule = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix })],
  }).compile();
  await module.init();
  return { module, cache: module.get(CacheService) };
}

it('full Redis: set() on A resolves, B does not serve the replaced value', async () => {
  const server = await RedisServer.launch(['--maxmemory-policy', 'noeviction']);
  const prefix = uniquePrefix('fullb');
  const a = await boot(redisStore({ url: server.url }), prefix);
  const b = await boot(redisStore({ url: server.url }), prefix);
  try {
    await a.cache.set('price', { amount: 100 });
    await settle(a.module);
    expect(await b.cache.get('price')).toEqual({ amount: 100 });
    server.cli('config', 'set', 'maxmemory', '1');
    await a.cache.set('price', { amount: 120 });
    await settle(a.module, b.module);
    const onA = await a.cache.get('price');
    const onB = await b.cache.get('price');
    expect({ onA, onB }).toEqual({ onA: undefined, onB: undefined });
  } finally {
    await a.module.close();
    await b.module.close();
    await server.stop();
  }
});
