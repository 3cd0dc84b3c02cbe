/**
 * One app, one CacheMemoizeModule. Every explorer sees every provider of the app, so a second
 * `forRoot()` meant its providers were memoized by the first engine while the second module's
 * InvalidationService and `@CacheEvict` busted the second engine's stores: invalidations that
 * resolved and changed nothing. The boot now fails, naming the modules; one module shared by
 * reference (the same DynamicModule object imported twice) is one module and still boots.
 */
import 'reflect-metadata';
import { type DynamicModule, Injectable, Logger, Module, type Type } from '@nestjs/common';
import { LazyModuleLoader, NestFactory } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type * as lib from '../../lib';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeErrorCode,
  CacheMemoizeModule,
  InvalidationService,
  InvalidOptionError,
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
class OrdersRepo {
  runs = 0;
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`order:${id}`] })
  async get(id: number): Promise<string> {
    this.runs++;
    return `order ${id} v${db}`;
  }
}

@Injectable()
class BillingRepo {
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`invoice:${id}`] })
  async get(id: number): Promise<string> {
    return `invoice ${id} v${db}`;
  }

  @CacheEvict({ tags: (id: number) => [`invoice:${id}`] })
  async pay(id: number, v: number): Promise<void> {
    db = v;
  }
}

@Injectable()
class BillingAdmin {
  constructor(
    readonly repo: BillingRepo,
    readonly invalidation: InvalidationService,
  ) {}
}

const booted: TestingModule[] = [];
/** Stores of apps whose boot failed: Nest runs no shutdown hook for them, so the test closes them. */
const orphans: CacheStore[] = [];
afterEach(async () => {
  for (const m of booted.splice(0)) await m.close().catch(() => undefined);
  for (const s of orphans.splice(0)) await s.disconnect();
});
const redis = (): CacheStore => {
  const store = redisStore({ url: servers.redis });
  orphans.push(store);
  return store;
};

/** Compiles and inits; the modules are closed after each test. */
async function boot(...imports: Array<Type | DynamicModule>): Promise<TestingModule> {
  const m = await Test.createTestingModule({ imports }).compile();
  booted.push(m);
  await m.init();
  return m;
}

const failure = (m: Promise<unknown>) =>
  m.then(
    () => 'booted',
    (error: unknown) => error,
  );

describe('a second CacheMemoizeModule in one app fails the boot', () => {
  it('two feature modules with their own forRoot({ isGlobal: false }) (memory and Redis): names both', async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, isGlobal: false })],
      providers: [OrdersRepo],
    })
    class OrdersModule {}
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redis() },
          prefix: uniquePrefix('billing'),
          isGlobal: false,
        }),
      ],
      providers: [BillingRepo, BillingAdmin],
    })
    class BillingModule {}

    const error = await failure(boot(OrdersModule, BillingModule));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe(CacheMemoizeErrorCode.InvalidOption);
    expect((error as Error).message).toContain('configured twice in one app');
    expect((error as Error).message).toContain('(imported in OrdersModule, BillingModule)');
    expect((error as Error).message).toContain('Import CacheMemoizeModule.forRoot() once');
  });

  it('forRoot() in the root module and again in a feature module (global, default options): names the two importers', async () => {
    @Module({ imports: [CacheMemoizeModule.forRoot()], providers: [OrdersRepo] })
    class FeatureModule {}
    @Module({ imports: [CacheMemoizeModule.forRoot(), FeatureModule] })
    class AppModule {}

    const error = await failure(boot(AppModule));
    expect(error).toBeInstanceOf(InvalidOptionError);
    // Global modules are bound into every module: only the modules that declare the import are named.
    expect((error as Error).message).toMatch(/\(imported in (AppModule, FeatureModule|FeatureModule, AppModule)\)/);
  });

  it('forRoot() and forRootAsync() in one app', async () => {
    @Module({
      imports: [CacheMemoizeModule.forRootAsync({ useFactory: () => ({ prefix: uniquePrefix('async') }) })],
      providers: [BillingRepo],
    })
    class FeatureModule {}
    const error = await failure(boot(CacheMemoizeModule.forRoot(), FeatureModule));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain('configured twice in one app');
  });

  it('a lazy-loaded module with its own forRoot(): LazyModuleLoader.load() rejects', async () => {
    @Injectable()
    class LazyAdmin {
      constructor(readonly invalidation: InvalidationService) {}
    }
    const cache = CacheMemoizeModule.forRoot({ prefix: uniquePrefix('lz1'), isGlobal: false });
    @Module({ imports: [cache], providers: [OrdersRepo], exports: [OrdersRepo] })
    class OrdersModule {}
    @Module({
      imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('lz2'), isGlobal: false }), OrdersModule],
      providers: [LazyAdmin],
    })
    class LazyAdminModule {}
    const app = await NestFactory.createApplicationContext(OrdersModule, { logger: false });
    booted.push(app as never);
    const error = await failure(app.get(LazyModuleLoader).load(() => LazyAdminModule));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain('(imported in OrdersModule, LazyAdminModule)');
  });

  it('a second installed copy of the package (a dependency bringing its own) configuring its own module', async () => {
    // What node_modules/some-lib/node_modules/nestjs-cache-memoize is: the same code, other classes.
    const dir = join(__dirname, '..', '..', '.tmp', `lib-copy-${process.pid}`);
    cpSync(join(__dirname, '..', '..', 'lib'), dir, { recursive: true });
    try {
      const copy = require(dir) as typeof lib;
      expect(copy.CacheMemoizeModule).not.toBe(CacheMemoizeModule);
      @Module({ imports: [copy.CacheMemoizeModule.forRoot({ prefix: uniquePrefix('copy') })] })
      class SomeLibModule {}
      const error = await failure(boot(CacheMemoizeModule.forRoot({ prefix: uniquePrefix('app') }), SomeLibModule));
      expect((error as Error).message).toContain(
        'configured twice in one app (imported in RootTestModule, SomeLibModule)',
      );
      expect((error as Error).message).toContain('one copy of nestjs-cache-memoize installed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the same forRoot() object imported by a lazy-loaded module boots', async () => {
    const cache = CacheMemoizeModule.forRoot({ prefix: uniquePrefix('lz3'), isGlobal: false });
    @Module({ imports: [cache], providers: [BillingRepo, BillingAdmin] })
    class LazyBillingModule {}
    @Module({ imports: [cache], providers: [OrdersRepo] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    booted.push(app as never);
    const ref = await app.get(LazyModuleLoader).load(() => LazyBillingModule);
    db = 1;
    expect(await ref.get(BillingAdmin).repo.get(9)).toBe('invoice 9 v1');
  });
});

describe('one CacheMemoizeModule still boots', () => {
  it('the same forRoot() object imported by two feature modules is one engine: invalidations from either reach both', async () => {
    const cache = CacheMemoizeModule.forRoot({
      stores: { default: redisStore({ url: servers.redis }) },
      prefix: uniquePrefix('shared'),
      isGlobal: false,
    });
    @Module({ imports: [cache], providers: [OrdersRepo], exports: [OrdersRepo] })
    class OrdersModule {}
    @Module({ imports: [cache, OrdersModule], providers: [BillingRepo, BillingAdmin] })
    class BillingModule {}

    const m = await boot(OrdersModule, BillingModule);
    const admin = m.get(BillingAdmin);
    const orders = m.get(OrdersRepo);
    db = 1;
    expect(await admin.repo.get(1)).toBe('invoice 1 v1');
    expect(await orders.get(1)).toBe('order 1 v1');
    await settle(m);
    await admin.repo.pay(1, 2); // @CacheEvict in the billing module
    expect(await admin.repo.get(1)).toBe('invoice 1 v2');
    await admin.invalidation.invalidateTags(['order:1']); // the billing module's service busts the orders module's entry
    expect(await orders.get(1)).toBe('order 1 v2');
    expect(orders.runs).toBe(2);
  });

  it('forRoot() in the root module, memoized providers and InvalidationService in feature modules', async () => {
    @Module({ providers: [BillingRepo, BillingAdmin] })
    class BillingModule {}
    const m = await boot(CacheMemoizeModule.forRoot({ prefix: uniquePrefix('root') }), BillingModule);
    const admin = m.get(BillingAdmin);
    db = 1;
    expect(await admin.repo.get(2)).toBe('invoice 2 v1');
    db = 3;
    expect(await admin.repo.get(2)).toBe('invoice 2 v1');
    await admin.invalidation.invalidateTags(['invoice:2']);
    expect(await admin.repo.get(2)).toBe('invoice 2 v3');
  });
});
