import 'reflect-metadata';
import { Injectable, Logger, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable, firstValueFrom, lastValueFrom, of, toArray } from 'rxjs';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeModule,
  InvalidationService,
  memoryStore,
  type CacheEvent,
  type CacheMemoizeModuleOptions,
  type CacheMemoizeOptionsFactory,
} from 'nestjs-cache-memoize';

@Injectable()
class UserService {
  calls = 0;
  syncCalls = 0;
  obsCalls = 0;

  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<{ id: number; n: number }> {
    this.calls++;
    return { id, n: this.calls };
  }

  @CacheMemoize()
  fullName(first: string, last: string): string {
    this.syncCalls++;
    return `${first} ${last}#${this.syncCalls}`;
  }

  @CacheMemoize()
  stream(n: number): Observable<number> {
    this.obsCalls++;
    return of(n, n + 1, n + 2);
  }

  @CacheMemoize()
  async fails(): Promise<number> {
    this.calls++;
    throw new Error('boom');
  }
}

async function boot(providers: Function[], options: CacheMemoizeModuleOptions = {}) {
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot(options)],
    providers: providers as never[],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('CacheMemoizeModule with @CacheMemoize on providers', () => {
  it('memoizes async methods by arguments and invalidates by tag', async () => {
    const app = await boot([UserService]);
    const svc = app.get(UserService);
    const inv = app.get(InvalidationService);
    expect(await svc.getUser(1)).toEqual({ id: 1, n: 1 });
    expect(await svc.getUser(1)).toEqual({ id: 1, n: 1 });
    expect(await svc.getUser(2)).toEqual({ id: 2, n: 2 });
    expect(svc.calls).toBe(2);
    await inv.invalidateTags(['user:1']);
    expect(await svc.getUser(1)).toEqual({ id: 1, n: 3 });
    expect(await svc.getUser(2)).toEqual({ id: 2, n: 2 });
    await app.close();
  });

  it('app.close() called again shuts the cache down once (it waited and warned at each close; found by review)', async () => {
    const app = await boot([UserService]);
    const memoizer = app.get(CacheMemoizeEngine).memoizer();
    const close = jest.spyOn(memoizer, 'close');
    await Promise.all([app.close(), app.close()]);
    await app.close();
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('keeps sync methods sync and replays observables', async () => {
    const app = await boot([UserService]);
    const svc = app.get(UserService);
    const a = svc.fullName('Ada', 'Lovelace');
    expect(a).toBe('Ada Lovelace#1');
    expect(svc.fullName('Ada', 'Lovelace')).toBe('Ada Lovelace#1');
    expect(svc.syncCalls).toBe(1);
    expect(await lastValueFrom(svc.stream(1).pipe(toArray()))).toEqual([1, 2, 3]);
    expect(await lastValueFrom(svc.stream(1).pipe(toArray()))).toEqual([1, 2, 3]);
    expect(await firstValueFrom(svc.stream(1))).toBe(1);
    expect(svc.obsCalls).toBe(1);
    await app.close();
  });

  it('does not cache failures', async () => {
    const app = await boot([UserService]);
    const svc = app.get(UserService);
    await expect(svc.fails()).rejects.toThrow('boom');
    await expect(svc.fails()).rejects.toThrow('boom');
    expect(svc.calls).toBe(2);
    await app.close();
  });
});

@Injectable()
class BaseRepo {
  runs = 0;
  @CacheMemoize({ ttl: 60_000 })
  async find(id: number): Promise<string> {
    this.runs++;
    return `${this.constructor.name}:${id}:${this.runs}`;
  }
}
@Injectable()
class ProductRepo extends BaseRepo {
  @CacheMemoize({ key: (filter: { q: string; page: number }) => filter.q })
  async search(filter: { q: string; page: number }): Promise<string> {
    this.runs++;
    return `${filter.q}@${filter.page}#${this.runs}`;
  }
  @CacheMemoize({ skip: (id: number) => id < 0 })
  async maybe(_id: number): Promise<number> {
    this.runs++;
    return this.runs;
  }
  @CacheMemoize()
  async anything(_arg: unknown): Promise<number> {
    this.runs++;
    return this.runs;
  }
}
@Injectable()
class OrderRepo extends BaseRepo {}

describe('providers, inheritance and invalidation', () => {
  it('memoizes inherited methods per concrete class and several methods per class', async () => {
    const app = await boot([ProductRepo, OrderRepo]);
    const products = app.get(ProductRepo);
    const orders = app.get(OrderRepo);
    expect(await products.find(1)).toBe('ProductRepo:1:1');
    expect(await products.find(1)).toBe('ProductRepo:1:1');
    expect(await orders.find(1)).toBe('OrderRepo:1:1');
    expect(await orders.find(1)).toBe('OrderRepo:1:1');
    expect(await products.search({ q: 'tea', page: 1 })).toBe('tea@1#2');
    expect(await products.search({ q: 'tea', page: 2 })).toBe('tea@1#2'); // keyed on q only
    expect(await products.maybe(-1)).toBe(3);
    expect(await products.maybe(-1)).toBe(4); // skipped
    expect(await products.maybe(1)).toBe(5);
    expect(await products.maybe(1)).toBe(5);
    await app.close();
  });

  it('invalidates by method + args, key, namespace and clear()', async () => {
    const app = await boot([ProductRepo, OrderRepo]);
    const products = app.get(ProductRepo);
    const orders = app.get(OrderRepo);
    const inv = app.get(InvalidationService);
    await products.find(1);
    await products.find(2);
    await orders.find(1);
    expect(inv.keyOf(ProductRepo, 'find', [1])).toBe('cm:ProductRepo.find:0:1');

    await inv.invalidateMethod(ProductRepo, 'find', [1]);
    expect(await products.find(1)).toBe('ProductRepo:1:3');
    expect(await products.find(2)).toBe('ProductRepo:2:2');

    await inv.invalidateKeys([inv.keyOf(ProductRepo, 'find', [2])]);
    expect(await products.find(2)).toBe('ProductRepo:2:4');

    await inv.invalidateNamespace('ProductRepo');
    expect(await products.find(1)).toBe('ProductRepo:1:5');
    expect(await orders.find(1)).toBe('OrderRepo:1:1');

    await inv.clear();
    expect(await orders.find(1)).toBe('OrderRepo:1:2');
    await app.close();
  });

  it('runs calls it cannot key uncached (never failing them), warning once with the method, the argument and the fix', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const app = await boot([ProductRepo]);
    const products = app.get(ProductRepo);
    const events: CacheEvent[] = [];
    app.get(CacheMemoizeEngine).events.subscribe((e) => events.push(e));
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 5_000; i++) at = (at.d = {}) as Record<string, unknown>;
    const first = await products.anything(cyclic);
    const second = await products.anything(cyclic);
    expect(second).toBe(first + 1); // ran twice: nothing cached, nothing thrown
    await expect(products.anything(() => 1)).resolves.toEqual(expect.any(Number));
    await expect(products.anything(deep)).resolves.toEqual(expect.any(Number));
    const lines = warn.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes('ProductRepo.anything runs uncached'));
    expect(lines.some((l) => l.includes('circular reference') && l.includes('key: (...args)'))).toBe(true);
    expect(lines.filter((l) => l.includes('circular reference'))).toHaveLength(1); // once, not per call
    expect(events.filter((e) => e.type === 'error' && e.operation === 'key').length).toBeGreaterThanOrEqual(3);
    warn.mockRestore();
    await app.close();
  });

  it('invalidateMethod names unknown methods', async () => {
    const app = await boot([ProductRepo]);
    const inv = app.get(InvalidationService);
    // @ts-expect-error 'nope' is not a method of ProductRepo
    await expect(inv.invalidateMethod(ProductRepo, 'nope', [])).rejects.toThrow(/ProductRepo.nope is not memoized/);
    await app.close();
  });
});

describe('module options', () => {
  afterEach(() => jest.restoreAllMocks());

  @Injectable()
  class BadTtl {
    @CacheMemoize({ ttl: '5 minutes' as never })
    async m(): Promise<number> {
      return 1;
    }
  }
  @Injectable()
  class BadStore {
    @CacheMemoize({ store: 'redis' })
    async m(): Promise<number> {
      return 1;
    }
  }
  @Injectable()
  class NegativeTtl {
    @CacheMemoize({ ttl: -5 })
    async m(): Promise<number> {
      return 1;
    }
  }
  @Injectable()
  class ClashA {
    @CacheMemoize({ namespace: 'shared' })
    async m(): Promise<number> {
      return 1;
    }
  }
  @Injectable()
  class ClashB {
    @CacheMemoize({ namespace: 'shared' })
    async m(): Promise<number> {
      return 2;
    }
  }

  it.each([
    ['an unparsable ttl', [BadTtl], /@CacheMemoize on BadTtl\.m: option ttl: cannot parse duration "5 minutes"/],
    ['a negative ttl', [NegativeTtl], /NegativeTtl\.m: option ttl: duration must be/],
    ['an unknown store', [BadStore], /BadStore\.m: option store: store 'redis' is not configured/],
    ['a namespace clash', [ClashA, ClashB], /namespace 'shared' is already used by ClashA\.m/],
  ])('fails at bootstrap on %s', async (_n, providers, message) => {
    await expect(boot(providers)).rejects.toThrow(message);
  });

  it('fails at bootstrap on bad module options', async () => {
    await expect(boot([], { ttl: 'soon' as never })).rejects.toThrow(/forRoot\(\): option ttl/);
    await expect(boot([], { defaultStore: 'nope' })).rejects.toThrow(/defaultStore 'nope' is not one of the stores/);
    await expect(boot([], { prefix: 'has space' })).rejects.toThrow(/prefix must be/);
  });

  it('enabled: false leaves every method uncached', async () => {
    const app = await boot([UserService], { enabled: false });
    const svc = app.get(UserService);
    await svc.getUser(1);
    await svc.getUser(1);
    expect(svc.calls).toBe(2);
    await app.close();
  });

  it('uses the module ttl, prefix and named stores', async () => {
    const shared = memoryStore();
    const app = await boot([ProductRepo], {
      stores: { default: memoryStore(), shared },
      prefix: 'shop',
      ttl: '10s',
    });
    const inv = app.get(InvalidationService);
    expect(inv.keyOf(ProductRepo, 'find', [7])).toBe('shop:ProductRepo.find:0:7');
    await app.get(ProductRepo).find(7);
    expect(shared.size).toBe(0);
    await app.close();
  });

  it('warns once for request-scoped providers and leaves them working uncached', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    @Injectable({ scope: Scope.REQUEST })
    class Scoped {
      runs = 0;
      @CacheMemoize()
      async m(): Promise<number> {
        return ++this.runs;
      }
    }
    const app = await boot([Scoped]);
    const scoped = await app.resolve(Scoped);
    expect(await scoped.m()).toBe(1);
    expect(await scoped.m()).toBe(2);
    const messages = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('Scoped'));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/Scoped is request- or transient-scoped: @CacheMemoize on m is ignored/);
    await app.close();
  });

  it('supports forRootAsync with useFactory, useClass and useExisting', async () => {
    @Injectable()
    class Config implements CacheMemoizeOptionsFactory {
      async createCacheMemoizeOptions(): Promise<CacheMemoizeModuleOptions> {
        return { prefix: 'async', ttl: 1000 };
      }
    }
    @Module({ providers: [Config], exports: [Config] })
    class ConfigModule {}

    const variants = [
      CacheMemoizeModule.forRootAsync({
        imports: [ConfigModule],
        inject: [Config],
        useFactory: (c: Config) => c.createCacheMemoizeOptions(),
      }),
      CacheMemoizeModule.forRootAsync({ useClass: Config }),
      CacheMemoizeModule.forRootAsync({ imports: [ConfigModule], useExisting: Config }),
    ];
    for (const imported of variants) {
      const app = await Test.createTestingModule({ imports: [imported], providers: [ProductRepo] }).compile();
      await app.init();
      expect(app.get(InvalidationService).keyOf(ProductRepo, 'find', [1])).toBe('async:ProductRepo.find:0:1');
      expect(app.get(CacheMemoizeEngine).options.ttlMs).toBe(1000);
      const repo = app.get(ProductRepo);
      expect(await repo.find(1)).toBe(await repo.find(1));
      await app.close();
    }
  });

  it('is global by default so feature modules get memoized providers', async () => {
    @Module({ providers: [UserService], exports: [UserService] })
    class FeatureModule {}
    const app = await Test.createTestingModule({ imports: [CacheMemoizeModule.forRoot({}), FeatureModule] }).compile();
    await app.init();
    const svc = app.get(UserService);
    await svc.getUser(5);
    await svc.getUser(5);
    expect(svc.calls).toBe(1);
    await app.close();
  });
});
