/*
 * New user's trial: `@CacheMemoize` on a microservice controller class cached its command
 * handlers too. `orders.create` sent twice answered `{ id: 0 }` both times and stored one order,
 * and its `@InvalidateTags` never ran. A handler that invalidates or writes the cache
 * (`@CacheEvict`, `@InvalidateTags`, `@CachePut`) now always runs; the class's other handlers are
 * cached as before.
 */
import 'reflect-metadata';
import { Controller, Injectable, type INestMicroservice, Logger, Module } from '@nestjs/common';
import { MessagePattern, Payload, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { CacheEvict, CacheMemoize, CacheMemoizeModule, CachePut, InvalidateTags } from '../../lib';
import { tcpMicroservice } from '../support/rpc-apps';

const orders: Array<{ sku: string }> = [];
let lists = 0;

@Injectable()
class OrderService {
  @CacheMemoize({ ttl: '1m' })
  async count(): Promise<number> {
    return orders.length;
  }
}

@Controller()
@CacheMemoize({ ttl: '1m' })
class OrdersRpc {
  @MessagePattern('orders.list')
  @CacheMemoize({ ttl: '1m', requestTags: () => ['orders'] })
  list() {
    return { orders: [...orders], run: ++lists };
  }

  @MessagePattern('orders.create')
  @InvalidateTags(['orders'])
  create(@Payload() data: { sku: string }) {
    orders.push(data);
    return { id: orders.length - 1 };
  }

  @MessagePattern('orders.recount')
  @CacheEvict({ tags: ['orders'] })
  recount() {
    return { at: orders.length };
  }

  @MessagePattern('orders.count')
  @CachePut({ method: [OrderService, 'count'], args: () => [] })
  async count() {
    return orders.length;
  }

  // Both on the handler itself: the write wins (it runs every time), and the app is told.
  @MessagePattern('orders.archive')
  @CacheMemoize({ ttl: '1m' })
  @InvalidateTags(['orders'])
  archive() {
    return { archived: orders.splice(0).length };
  }
}

describe('a class-level @CacheMemoize on a microservice controller', () => {
  let service: INestMicroservice;
  let client: ClientProxy;
  beforeAll(async () => {
    @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [OrdersRpc], providers: [OrderService] })
    class OrdersModule {}
    ({ service, client } = await tcpMicroservice(OrdersModule));
  });
  afterAll(async () => {
    client.close();
    await service.close();
  });
  const send = <T>(pattern: string, data: unknown = {}) => firstValueFrom(client.send<T>(pattern, data));

  it('runs every call of a handler that invalidates, and its invalidation reaches the cached handlers', async () => {
    expect(await send('orders.list')).toEqual({ orders: [], run: 1 });
    expect(await send('orders.list')).toEqual({ orders: [], run: 1 });
    expect(await send('orders.create', { sku: 'apple' })).toEqual({ id: 0 });
    expect(await send('orders.create', { sku: 'apple' })).toEqual({ id: 1 });
    expect(orders).toHaveLength(2);
    expect(await send('orders.list')).toEqual({ orders: [{ sku: 'apple' }, { sku: 'apple' }], run: 2 });
  });

  it('runs every call of a handler with its own @CacheMemoize and a write, and warns once naming it', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      orders.push({ sku: 'kiwi' }, { sku: 'lime' });
      expect(await send('orders.archive')).toEqual({ archived: 4 }); // the two apples of the first test, too
      orders.push({ sku: 'date' });
      expect(await send('orders.archive')).toEqual({ archived: 1 });
      const lines = warn.mock.calls.map(([line]) => String(line)).filter((l) => l.includes('OrdersRpc.archive'));
      expect(lines).toEqual([expect.stringContaining('has @CacheMemoize and a write')]);
    } finally {
      warn.mockRestore();
    }
  });

  it('runs every call of a handler that evicts or puts', async () => {
    orders.push({ sku: 'pear' });
    expect(await send('orders.recount')).toEqual({ at: orders.length });
    orders.push({ sku: 'plum' });
    expect(await send('orders.recount')).toEqual({ at: orders.length });
    expect(await send('orders.count')).toBe(orders.length);
    orders.push({ sku: 'fig' });
    expect(await send('orders.count')).toBe(orders.length);
  });
});
