/**
 * Two apps in one process (an HTTP app and a worker context from one `main.ts`, or the fleet
 * tests here), each with its own stores. Instances Nest creates per request, and instances made
 * by hand, are not linked to an app at bootstrap: their `@CacheEvict` / `@CachePut` must reach
 * the app whose class they are, not whichever app was initialized last.
 */
import 'reflect-metadata';
import { Injectable, Logger, Module, Scope } from '@nestjs/common';
import { LazyModuleLoader } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeModule,
  CachePut,
  InvalidationFailedError,
  memoryStore,
  redisStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { freePort } from '../support/servers';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});

let db = 0;

@Injectable()
class OrdersRepo {
  runs = 0;
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`order:${id}`] })
  async get(id: number): Promise<string> {
    this.runs++;
    return `order ${id} v${db}`;
  }
}

/** Not decorated for Nest: made by factories, lazy modules and `new` (no app provides it). */
class PlainWriter {
  @CacheEvict({ tags: (id: number) => [`order:${id}`] })
  async write(id: number, v: number): Promise<void> {
    void id;
    db = v;
  }

  @CachePut({ method: [OrdersRepo, 'get'], args: (id: number) => [id] })
  async put(id: number, v: number): Promise<string> {
    db = v;
    return `order ${id} v${v}`;
  }
}

@Injectable({ scope: Scope.REQUEST })
class OrderWriter extends PlainWriter {}

@Injectable()
class Unrelated {
  @CacheMemoize({ ttl: '1h' })
  async ping(): Promise<string> {
    return 'pong';
  }
}

const apps: TestingModule[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function boot(kind: 'memory' | 'redis', providers: Function[]): Promise<TestingModule> {
  const store = kind === 'memory' ? memoryStore() : redisStore({ url: servers.redis });
  const app = await appOn(store, uniquePrefix('two-apps'), providers);
  apps.push(app);
  return app;
}

describe.each(['memory', 'redis'] as const)('two apps in one process (%s)', (kind) => {
  it("a request-scoped @CacheEvict busts its own app's stores, not the app initialized last", async () => {
    const a = await boot(kind, [OrdersRepo, OrderWriter]);
    await boot(kind, [Unrelated]); // initialized last
    const repo = a.get(OrdersRepo);
    db = 1;
    expect(await repo.get(1)).toBe('order 1 v1');
    const writer = await a.resolve(OrderWriter);
    await writer.write(1, 2);
    expect(await repo.get(1)).toBe('order 1 v2');
    expect(repo.runs).toBe(2);
  });

  it("a request-scoped @CachePut writes its own app's entry", async () => {
    const a = await boot(kind, [OrdersRepo, OrderWriter]);
    await boot(kind, [Unrelated]);
    const repo = a.get(OrdersRepo);
    db = 1;
    expect(await repo.get(1)).toBe('order 1 v1');
    const writer = await a.resolve(OrderWriter);
    expect(await writer.put(1, 3)).toBe('order 1 v3');
    expect(await repo.get(1)).toBe('order 1 v3');
    expect(repo.runs).toBe(1); // the put's value is the entry
  });

  it('a class both apps provide busts in both', async () => {
    const a = await boot(kind, [OrdersRepo, OrderWriter]);
    const b = await boot(kind, [OrdersRepo, OrderWriter]);
    db = 1;
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v1');
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v1');
    await (await b.resolve(OrderWriter)).write(1, 4);
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v4');
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v4');
  });

  it('after its app closes, an orphaned instance busts in the last app initialized', async () => {
    const a = await boot(kind, [OrdersRepo, OrderWriter]);
    const b = await boot(kind, [OrdersRepo]);
    db = 1;
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v1');
    const writer = await a.resolve(OrderWriter);
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    // The writer's app is gone; the only live app memoizes OrdersRepo: hand-made and orphaned
    // instances go to the last app initialized (README), here b.
    await writer.write(1, 5);
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v5');
  });

  it('a class both apps memoize: a put writes both entries from one run', async () => {
    const a = await boot(kind, [OrdersRepo, OrderWriter]);
    const b = await boot(kind, [OrdersRepo]);
    db = 1;
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v1');
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v1');
    const writer = new OrderWriter(); // hand-made: OrdersRepo's apps
    const run = jest.spyOn(OrderWriter.prototype, 'put');
    expect(await writer.put(1, 7)).toBe('order 1 v7');
    db = 99; // a read from here would be a recomputation
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v7');
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v7');
    expect(a.get(OrdersRepo).runs + b.get(OrdersRepo).runs).toBe(2);
    expect(run).toHaveBeenCalledTimes(1);
    run.mockRestore();
  });

  it('a hand-made instance no app provides busts in every app (which one it serves is unknown)', async () => {
    const a = await boot(kind, [OrdersRepo]);
    const b = await boot(kind, [Unrelated]); // initialized last
    db = 1;
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v1');
    await new PlainWriter().write(1, 6);
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v6');
    void b;
  });
});

/** Provided as `{ provide: OrdersRepo, useClass: SqlOrdersRepo }` (README: subclass targets). */
@Injectable()
class SqlOrdersRepo extends OrdersRepo {}

describe('instances whose app is not known from their class', () => {
  it('@CachePut naming the base class reaches the app that provides a subclass with useClass', async () => {
    const a = await boot('memory', [{ provide: OrdersRepo, useClass: SqlOrdersRepo } as never]);
    await boot('memory', [Unrelated]); // initialized last
    const repo = a.get(OrdersRepo);
    db = 1;
    expect(await repo.get(1)).toBe('order 1 v1');
    expect(await new PlainWriter().put(1, 3)).toBe('order 1 v3');
    db = 99;
    expect(await repo.get(1)).toBe('order 1 v3');
    expect(repo.runs).toBe(1);
  });

  it('a request-scoped writer made by useFactory busts its app', async () => {
    const a = await boot('memory', [
      OrdersRepo,
      { provide: 'WRITER', scope: Scope.REQUEST, useFactory: () => new PlainWriter() } as never,
    ]);
    await boot('memory', [Unrelated]);
    const repo = a.get(OrdersRepo);
    db = 1;
    expect(await repo.get(1)).toBe('order 1 v1');
    await (await a.resolve<PlainWriter>('WRITER')).write(1, 2);
    expect(await repo.get(1)).toBe('order 1 v2');
  });

  it("a lazy-loaded module's provider busts its app", async () => {
    @Injectable()
    class LazyWriter extends PlainWriter {}
    @Module({ providers: [LazyWriter], exports: [LazyWriter] })
    class LazyModule {}
    const a = await boot('memory', [OrdersRepo]);
    await boot('memory', [Unrelated]);
    const repo = a.get(OrdersRepo);
    db = 1;
    expect(await repo.get(1)).toBe('order 1 v1');
    const lazy = await a.get(LazyModuleLoader).load(() => LazyModule);
    await lazy.get(LazyWriter).write(1, 4);
    expect(await repo.get(1)).toBe('order 1 v4');
  });

  it('an enabled: false app initialized last does not take the bust from the app that caches', async () => {
    const a = await boot('memory', [OrdersRepo]);
    const off = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ enabled: false, prefix: uniquePrefix('two-apps') })],
      providers: [Unrelated],
    }).compile();
    apps.push(off);
    await off.init();
    db = 1;
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v1');
    await new PlainWriter().write(1, 8);
    expect(await a.get(OrdersRepo).get(1)).toBe('order 1 v8');
  });

  it("a put that fails in one app still updates the other's entry, then rejects", async () => {
    const dead = redisStore({ url: `redis://127.0.0.1:${await freePort()}` }); // every write fails
    apps.push(await appOn(dead, uniquePrefix('two-apps'), [OrdersRepo]));
    const b = await boot('memory', [OrdersRepo]);
    db = 1;
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v1');
    const run = jest.spyOn(PlainWriter.prototype, 'put');
    await expect(new PlainWriter().put(1, 7)).rejects.toThrow(InvalidationFailedError);
    expect(db).toBe(7);
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v7');
    expect(run).toHaveBeenCalledTimes(1);
    run.mockRestore();
  }, 30_000);
});

describe('no live app', () => {
  it('@CacheEvict on a hand-made instance after every app closed runs the method and busts nothing', async () => {
    const a = await boot('memory', [OrdersRepo]);
    await a.close();
    apps.splice(0);
    await expect(new PlainWriter().write(1, 8)).resolves.toBeUndefined();
    expect(db).toBe(8);
  });

  it('a bust that fails in one of two apps rejects the call after busting the other', async () => {
    const dead = redisStore({ url: `redis://127.0.0.1:${await freePort()}` }); // every bust fails
    apps.push(await appOn(dead, uniquePrefix('two-apps'), [OrdersRepo, OrderWriter]));
    const b = await boot('memory', [OrdersRepo, OrderWriter]);
    db = 1;
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v1');
    const writer = await b.resolve(OrderWriter);
    await expect(writer.write(1, 9)).rejects.toThrow(InvalidationFailedError);
    expect(await b.get(OrdersRepo).get(1)).toBe('order 1 v9');
  }, 30_000);
});
