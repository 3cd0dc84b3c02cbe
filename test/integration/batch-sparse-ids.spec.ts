/*
 * A sparse id list in @CacheMemoizeMany (from review): the call keyed the hole as an undefined id,
 * but invalidateMethod (and keysOf, peekMany, explainMany) walked the list with map(), which skips
 * holes. The key list came out sparse: the memory store threw a TypeError, memcached failed on an
 * undefined key and kept retrying it in the background for good.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheMemoizeMany,
  CacheMemoizeModule,
  InvalidArgumentError,
  InvalidationService,
  memcachedStore,
  memoryStore,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

let version = 0;
@Injectable()
class Items {
  calls: unknown[][] = [];
  @CacheMemoizeMany({ ttl: '1m', namespace: 'Items.byId' })
  async getMany(ids: Array<number | undefined>): Promise<string[]> {
    this.calls.push([...ids]);
    return ids.map((id) => `item ${String(id)} v${version}`);
  }
}

describe.each([
  ['memory', (): CacheStore => memoryStore()],
  ['memcached', (): CacheStore => memcachedStore({ servers: sharedServers().memcached[0] })],
])('%s', (_n, make) => {
  it('a sparse id list: invalidateMethod with the same list invalidates every item the call cached', async () => {
    const mod = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('sparse'), stores: { default: make() } })],
      providers: [Items],
    }).compile();
    await mod.init();
    try {
      const items = mod.get(Items);
      const inv = mod.get(InvalidationService);
      // eslint-disable-next-line no-sparse-arrays
      const ids = [, 1] as Array<number | undefined>;
      version = 1;
      expect(await items.getMany(ids)).toEqual(['item undefined v1', 'item 1 v1']);
      version = 2;
      let error: unknown;
      await inv.invalidateMethod(Items, 'getMany', [ids]).catch((e: unknown) => (error = e));
      expect(error).toBeUndefined();
      expect(await items.getMany(ids)).toEqual(['item undefined v2', 'item 1 v2']);
    } finally {
      await mod.close();
    }
  });
});

it('invalidateKeys and invalidateTags refuse a list with a hole (the hole is no key to skip)', async () => {
  const mod = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('sparse3'), stores: { default: memoryStore() } })],
  }).compile();
  await mod.init();
  try {
    const inv = mod.get(InvalidationService);
    // eslint-disable-next-line no-sparse-arrays
    await expect(inv.invalidateKeys([, 'k'] as string[])).rejects.toBeInstanceOf(InvalidArgumentError);
    // eslint-disable-next-line no-sparse-arrays
    await expect(inv.invalidateTags([, 'user:1'] as string[])).rejects.toBeInstanceOf(InvalidArgumentError);
  } finally {
    await mod.close();
  }
});
