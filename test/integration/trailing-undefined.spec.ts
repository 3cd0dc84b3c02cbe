/*
 * `f(1)` and `f(1, undefined)` are one call (an optional argument omitted, or passed on from an
 * absent query parameter): invalidateMethod, evictCall and cacheHandle().invalidate with the
 * arguments written either way must bust the entry either call filled.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeModule,
  cacheHandle,
  evictCall,
  InvalidationService,
  memoryStore,
  redisStore,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';

const servers = sharedServers();
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
let db = 0;

@Injectable()
class Products {
  @CacheMemoize({ ttl: '1h' })
  async find(id: number, page?: number): Promise<{ v: number; page?: number }> {
    return { v: db, page };
  }
}

@Injectable()
class ProductsWriter {
  @CacheEvict({ methods: [evictCall(Products, 'find', (id: number) => [id])] })
  async update(id: number, v: number): Promise<void> {
    db = v;
  }
}

/** What a controller does with an optional query parameter that was not sent. */
const fromController = (p: Products, id: number, query: { page?: number } = {}) => p.find(id, query.page);

for (const [name, store] of [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>) {
  describe(`trailing undefined arguments (${name})`, () => {
    const opened: TestingModule[] = [];
    afterEach(async () => {
      for (const m of opened.splice(0)) await m.close();
    });
    async function boot() {
      const m = await Test.createTestingModule({
        imports: [CacheMemoizeModule.forRoot({ stores: { default: store() }, prefix: uniquePrefix('rvundef') })],
        providers: [Products, ProductsWriter],
      }).compile();
      await m.init();
      opened.push(m);
      return m;
    }

    it('invalidateMethod(Products, "find", [id]) busts the entry of find(id, undefined)', async () => {
      const m = await boot();
      db = 1;
      expect((await fromController(m.get(Products), 7)).v).toBe(1);
      await settle(m);
      db = 2;
      await m.get(InvalidationService).invalidateMethod(Products, 'find', [7]);
      expect((await fromController(m.get(Products), 7)).v).toBe(2);
    });

    it('@CacheEvict evictCall(Products, "find", (id) => [id]) busts the entry of find(id, undefined)', async () => {
      const m = await boot();
      db = 1;
      expect((await fromController(m.get(Products), 8)).v).toBe(1);
      await settle(m);
      await m.get(ProductsWriter).update(8, 2);
      expect((await fromController(m.get(Products), 8)).v).toBe(2);
    });

    it('cacheHandle(products, "find").invalidate(id) busts the entry of find(id, undefined)', async () => {
      const m = await boot();
      db = 1;
      expect((await fromController(m.get(Products), 9)).v).toBe(1);
      await settle(m);
      db = 2;
      await cacheHandle(m.get(Products), 'find').invalidate(9);
      expect((await fromController(m.get(Products), 9)).v).toBe(2);
    });
  });
}
