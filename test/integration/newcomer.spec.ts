import 'reflect-metadata';
import { Controller, Get, Injectable, Logger, Module, UseInterceptors } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeInterceptor,
  CacheMemoizeModule,
  memcachedStore,
  memoryStore,
  redisStore,
  UnknownStoreError,
  type CacheHookInfo,
  type CacheMemoizeModuleOptions,
  type Duration,
} from '../../lib';
import { freePort, RedisServer } from '../support/servers';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * Issue #14: what bit a new user in their first hour (env-driven config, several stores, hooks,
 * a forgotten import, an unwired class, dead stores), each as the user met it.
 */
const servers = sharedServers();
let logs: Array<[string, string]> = [];

beforeEach(() => {
  logs = [];
  jest
    .spyOn(Logger.prototype, 'log')
    .mockImplementation((message: unknown) => void logs.push(['log', String(message)]));
  jest
    .spyOn(Logger.prototype, 'warn')
    .mockImplementation((message: unknown) => void logs.push(['warn', String(message)]));
  jest
    .spyOn(Logger.prototype, 'error')
    .mockImplementation((message: unknown) => void logs.push(['error', String(message)]));
});
afterEach(() => jest.restoreAllMocks());

@Injectable()
class Greeter {
  runs = 0;
  @CacheMemoize({ ttl: '1m' })
  async hello(name: string): Promise<string> {
    return `hello ${name} #${++this.runs}`;
  }
}

async function boot(imports: unknown[], providers: Function[] = [Greeter]) {
  const app = await Test.createTestingModule({
    imports: imports as never[],
    providers: providers as never[],
  }).compile();
  await app.init();
  return app;
}

describe('configuration from the environment (forRootAsync + ConfigService)', () => {
  const fromEnv = (env: Record<string, string>) =>
    CacheMemoizeModule.forRootAsync({
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => env] })],
      inject: [ConfigService],
      // Typed as configuration gives it: a string. It compiles (module options take strings).
      useFactory: (config: ConfigService) => ({ ttl: config.get<string>('CACHE_TTL', '5m'), prefix: 'env' }),
    });

  it.each([
    ['30000', 30_000],
    ['30s', 30_000],
    ['2m', 120_000],
  ])('CACHE_TTL=%s is %d ms', async (value, ms) => {
    const app = await boot([fromEnv({ CACHE_TTL: value })]);
    expect(app.get(CacheMemoizeEngine).options.ttlMs).toBe(ms);
    await app.close();
  });

  it('a bad value fails the boot naming the option, the value and forRootAsync()', async () => {
    await expect(boot([fromEnv({ CACHE_TTL: 'soon' })])).rejects.toThrow(
      /CacheMemoizeModule\.forRootAsync\(\): option ttl: cannot parse duration "soon"/,
    );
    await expect(boot([CacheMemoizeModule.forRoot({ operationTimeout: 'never' })])).rejects.toThrow(
      /CacheMemoizeModule\.forRoot\(\): option operationTimeout/,
    );
  });

  it('Duration is exported, and decorators keep the stricter type', () => {
    const ttl: Duration = '30s';
    const fromEnvVar: Duration = '30000';
    const options: CacheMemoizeModuleOptions = { ttl: String(process.env.UNSET_TTL ?? '5m') };
    expect([ttl, fromEnvVar, options.ttl]).toEqual(['30s', '30000', '5m']);
  });
});

describe('several stores and no defaultStore', () => {
  @Injectable()
  class Named {
    @CacheMemoize({ store: 'r' })
    async a(): Promise<number> {
      return 1;
    }
    @CacheMemoize({ store: 'm' })
    async b(): Promise<number> {
      return 2;
    }
  }
  @Injectable()
  class Unnamed {
    @CacheMemoize()
    async c(): Promise<number> {
      return 3;
    }
  }
  const stores = () => ({ r: memoryStore(), m: memoryStore() });

  it('boot when every decorator names its store', async () => {
    const app = await boot([CacheMemoizeModule.forRoot({ stores: stores(), prefix: uniquePrefix('named') })], [Named]);
    expect(await app.get(Named).a()).toBe(1);
    await app.close();
  });

  it('fail naming the method that relies on a default store, and the fix', async () => {
    const error = await boot([CacheMemoizeModule.forRoot({ stores: stores() })], [Named, Unnamed]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnknownStoreError);
    expect((error as Error).message).toMatch(
      /@CacheMemoize on Unnamed\.c.*no store is named and there is no default among r, m.*defaultStore/,
    );
  });
});

describe('hooks have one shape, on the module and on a decorator', () => {
  it('hooks: { onHit } on the decorator wins over the module; the old top-level form still works', async () => {
    const seen: string[] = [];
    @Injectable()
    class Hooked {
      @CacheMemoize({ hooks: { onHit: (i: CacheHookInfo) => void seen.push(`decorator hit ${i.method}`) } })
      async a(): Promise<number> {
        return 1;
      }
      @CacheMemoize({ onMiss: (i: CacheHookInfo) => void seen.push(`deprecated miss ${i.method}`) })
      async b(): Promise<number> {
        return 2;
      }
    }
    const app = await boot(
      [
        CacheMemoizeModule.forRoot({
          hooks: { onHit: () => void seen.push('module hit'), onMiss: () => void seen.push('module miss') },
        }),
      ],
      [Hooked],
    );
    const h = app.get(Hooked);
    await h.a();
    await h.a();
    await h.b();
    expect(seen).toEqual(['module miss', 'decorator hit Hooked.a', 'deprecated miss Hooked.b']);
    await app.close();
  });
});

describe('warnings a user needs', () => {
  it('a shared store on the default prefix warns at boot, naming the fix', async () => {
    const app = await boot([CacheMemoizeModule.forRoot({ stores: { default: redisStore({ url: servers.redis }) } })]);
    const line = logs.find(([level, m]) => level === 'warn' && m.includes("key prefix is the default 'cm'"));
    expect(line?.[1]).toMatch(/store 'default' \(redis\) is shared.*prefix: 'my-app'/);
    await app.close();
    logs = [];
    const named = await boot([
      CacheMemoizeModule.forRoot({
        stores: { default: redisStore({ url: servers.redis }) },
        prefix: uniquePrefix('p'),
      }),
    ]);
    expect(logs.some(([, m]) => m.includes('key prefix is the default'))).toBe(false);
    await named.close();
  });

  it('a decorated class Nest never creates runs uncached without instanceKey, named once', async () => {
    let runs = 0;
    class MoneyFormatter {
      @CacheMemoize()
      async format(cents: number): Promise<string> {
        runs++;
        return (cents / 100).toFixed(2);
      }
    }
    const app = await boot([CacheMemoizeModule.forRoot({})]);
    expect(await new MoneyFormatter().format(150)).toBe('1.50');
    expect(await new MoneyFormatter().format(150)).toBe('1.50');
    expect(runs).toBe(2); // instances could differ: never one's result for another
    const lines = logs.filter(([, m]) =>
      m.includes('MoneyFormatter.format runs uncached: MoneyFormatter was not created by Nest at bootstrap'),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0][1]).toMatch(/instanceKey: \(self: MoneyFormatter\) => self\.id/);
    await app.close();
  });

  it('a tags or key option that throws is named as the option (it read as the method failing)', async () => {
    @Injectable()
    class Accounts {
      @CacheMemoize({ tags: (user: { id: string }) => [`user:${user.id}`] })
      async withTags(_user?: { id: string }): Promise<string> {
        return 'ran';
      }
      @CacheMemoize({ key: (user: { id: string }) => user.id })
      async withKey(_user?: { id: string }): Promise<string> {
        return 'ran';
      }
    }
    const app = await boot([CacheMemoizeModule.forRoot({})], [Accounts]);
    const accounts = app.get(Accounts);
    expect(await accounts.withTags(undefined)).toBe('ran');
    expect(await accounts.withKey(undefined)).toBe('ran');
    const warned = logs.filter(([level]) => level === 'warn').map(([, m]) => m);
    expect(warned).toContainEqual(expect.stringMatching(/^Accounts\.withTags runs uncached: its tags option threw: /));
    expect(warned).toContainEqual(expect.stringMatching(/^Accounts\.withKey runs uncached: its key option threw: /));
    await app.close();
  });

  it('a key option returning undefined runs uncached, warned once (every call shared one entry; found by review)', async () => {
    let runs = 0;
    @Injectable()
    class Profiles {
      @CacheMemoize({ key: (q: { userId: number }) => (q as unknown as { userID?: number }).userID })
      async profile(q: { userId: number }): Promise<string> {
        runs++;
        return `profile of ${q.userId}`;
      }
    }
    const app = await boot([CacheMemoizeModule.forRoot({})], [Profiles]);
    const profiles = app.get(Profiles);
    expect([await profiles.profile({ userId: 1 }), await profiles.profile({ userId: 2 })]).toEqual([
      'profile of 1',
      'profile of 2',
    ]);
    expect(runs).toBe(2);
    const warned = logs.filter(([level, m]) => level === 'warn' && m.startsWith('Profiles.profile runs uncached'));
    expect(warned.map(([, m]) => m)).toEqual([
      'Profiles.profile runs uncached: its key option returned undefined, which would give every call one entry: ' +
        "return a value for each call (a constant, such as 'all', if they share one on purpose)",
    ]);
    await app.close();
  });

  it('forgetting to import the module says what to import', async () => {
    @Controller()
    class Orphan {
      @Get()
      @UseInterceptors(CacheMemoizeInterceptor)
      get() {
        return 1;
      }
    }
    @Module({ controllers: [Orphan] })
    class NoCacheModule {}
    await expect(NestFactory.create(NoCacheModule, { logger: false, abortOnError: false })).rejects.toThrow(
      /import CacheMemoizeModule\.forRoot\(\)/,
    );
  });

  it('isGlobal: false: the README pattern works, and a module that forgot the import is told how', async () => {
    @Controller('feature')
    class FeatureController {
      constructor(private readonly greeter: Greeter) {}
      @Get()
      @CacheMemoize({ ttl: '1m' })
      get() {
        return this.greeter.hello('feature');
      }
    }
    const cache = CacheMemoizeModule.forRoot({ isGlobal: false, stores: { default: memoryStore() } });
    @Module({ imports: [cache], exports: [cache] })
    class SharedCacheModule {}
    @Module({ imports: [SharedCacheModule], providers: [Greeter], controllers: [FeatureController] })
    class FeatureModule {}
    @Module({ imports: [SharedCacheModule, FeatureModule] })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
    const greeter = app.get(Greeter);
    expect(await greeter.hello('x')).toBe('hello x #1');
    expect(await greeter.hello('x')).toBe('hello x #1');
    await app.close();

    @Module({ providers: [Greeter], controllers: [FeatureController] })
    class ForgetfulModule {}
    @Module({ imports: [SharedCacheModule, ForgetfulModule] })
    class ForgetfulApp {}
    await expect(NestFactory.create(ForgetfulApp, { logger: false, abortOnError: false })).rejects.toThrow(
      /With isGlobal: false, every module whose controllers or providers use @CacheMemoize must import it too/,
    );
  });

  it('two instances of one class in one module are named as such (it said "in M and M")', async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('two') })],
      providers: [Greeter, { provide: 'SecondGreeter', useClass: Greeter }],
    })
    class TwoGreeters {}
    const app = await NestFactory.createApplicationContext(TwoGreeters, { logger: false, abortOnError: false }).catch(
      (error: unknown) => error,
    );
    if (!(app instanceof Error)) await (app as { close(): Promise<void> }).close();
    expect(String(app)).toMatch(/Greeter has a second instance \(two in TwoGreeters\)/);
  });

  it('the bare CacheMemoizeModule class imported (no forRoot) fails naming forRoot, not an internal token', async () => {
    @Module({ imports: [CacheMemoizeModule], providers: [Greeter] })
    class BareApp {}
    await expect(NestFactory.create(BareApp, { logger: false, abortOnError: false })).rejects.toThrow(
      'CacheMemoizeModule is imported without options: import CacheMemoizeModule.forRoot({ ... }) (or forRootAsync()) ' +
        'once in your root module, not the bare CacheMemoizeModule class.',
    );
  });
});

describe('store-down messages', () => {
  it('Redis on a dead port: "cannot reach Redis at host:port (connection refused)"', async () => {
    const port = await freePort();
    const app = await boot([
      CacheMemoizeModule.forRoot({
        stores: { default: redisStore({ url: `redis://127.0.0.1:${port}` }) },
        prefix: uniquePrefix('dead'),
        connectTimeout: '300ms',
      }),
    ]);
    expect(logs.some(([level, m]) => level === 'warn' && m.includes('is not reachable yet'))).toBe(true);
    const greeter = app.get(Greeter);
    for (let i = 0; i < 5; i++) expect(await greeter.hello('x')).toMatch(/hello x/);
    const text = logs.map(([, m]) => m).join('\n');
    expect(text).toContain(`cannot reach Redis at 127.0.0.1:${port} (connection refused)`);
    expect(text).not.toContain("Stream isn't writeable");
    await app.close();
  });

  it('Redis refusing the password: the boot line says "authentication failed" (it said only "not reachable yet")', async () => {
    const server = await RedisServer.launch(['--requirepass', 'right-one']);
    let app: Awaited<ReturnType<typeof boot>> | undefined;
    try {
      app = await boot([
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: `redis://:wrong-one@127.0.0.1:${server.port}` }) },
          prefix: uniquePrefix('auth'),
        }),
      ]);
      const said = logs.filter(([level, m]) => level === 'warn' && m.startsWith("store 'default': redis"));
      expect(said.map(([, m]) => m)).toEqual([
        `store 'default': redis redis://***@127.0.0.1:${server.port} is not reachable yet (authentication failed); ` +
          'memoized calls run uncached until it is.',
      ]);
      expect(said[0][1]).not.toContain('wrong-one');
      expect(await app.get(Greeter).hello('x')).toMatch(/hello x/);
    } finally {
      await app?.close(); // its client reconnects until closed
      await server.stop();
    }
  });

  it('memcached says at boot whether it connected', async () => {
    const up = await boot([
      CacheMemoizeModule.forRoot({
        stores: { default: memcachedStore({ servers: servers.memcached[0] }) },
        prefix: uniquePrefix('mc'),
      }),
    ]);
    expect(logs.some(([, m]) => /store 'default': memcached .*, connected$/.test(m))).toBe(true);
    await up.close();
    logs = [];
    const port = await freePort();
    const down = await boot([
      CacheMemoizeModule.forRoot({
        stores: { default: memcachedStore({ servers: `127.0.0.1:${port}` }) },
        prefix: uniquePrefix('mc'),
        connectTimeout: '500ms',
      }),
    ]);
    expect(
      logs.some(([level, m]) => level === 'warn' && /store 'default': memcached .* is not reachable yet/.test(m)),
    ).toBe(true);
    await down.close();
  });
});
