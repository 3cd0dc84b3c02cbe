import 'reflect-metadata';
import {
  type CanActivate,
  ClassSerializerInterceptor,
  Controller,
  type ExecutionContext,
  Get,
  Headers,
  Injectable,
  type INestApplication,
  Logger,
  Module,
  Param,
  Query,
  Req,
  Res,
  SerializeOptions,
  UseGuards,
  VersioningType,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Exclude, Expose } from 'class-transformer';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeModule,
  memcachedStore,
  memoryStore,
  NamespaceConflictError,
  redisStore,
  type CacheMemoizeModuleOptions,
  type CacheStore,
} from '../../lib';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * Issue #12: every way the interceptor served a response to someone it was not computed for,
 * as a user's scenario over real HTTP, on Express and Fastify, on the stores where it matters.
 */
const servers = sharedServers();
const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);

type Reply = {
  type?(t: string): unknown;
  status?(n: number): unknown;
  header?(n: string, v: string): unknown;
  setHeader?(n: string, v: string): unknown;
  code?(n: number): unknown;
};
const setHeader = (res: Reply, name: string, value: string) =>
  res.header ? res.header(name, value) : res.setHeader!(name, value);
const setType = (res: Reply, type: string) => (res.type ? res.type(type) : setHeader(res, 'Content-Type', type));
const setStatus = (res: Reply, code: number) => res.status!(code);

export class UserEntity {
  id!: number;
  email!: string;
  @Exclude() passwordHash!: string;
  @Expose({ groups: ['admin'] }) role!: string;
  constructor(fields: Partial<UserEntity>) {
    Object.assign(this, fields);
  }
  @Expose()
  get display(): string {
    return `#${this.id} <${this.email}>`;
  }
}

export class Money {
  constructor(
    readonly cents: number,
    readonly currency: string,
  ) {}
  format(): string {
    return `${(this.cents / 100).toFixed(2)} ${this.currency}`;
  }
}

@Injectable()
export class PriceService {
  runs = 0;
  @CacheMemoize({ ttl: '1m' })
  async price(sku: string): Promise<Money> {
    this.runs++;
    return new Money(sku.length * 100, 'EUR');
  }
}

@Controller('users')
class UsersController {
  @Get(':id')
  @CacheMemoize()
  get(@Param('id') id: string) {
    count(`user${id}`);
    return new UserEntity({ id: Number(id), email: `u${id}@example.com`, passwordHash: `hash-${id}`, role: 'editor' });
  }

  @Get(':id/admin')
  @SerializeOptions({ groups: ['admin'] })
  @CacheMemoize()
  admin(@Param('id') id: string) {
    count(`admin${id}`);
    return new UserEntity({ id: Number(id), email: `u${id}@example.com`, passwordHash: `hash-${id}`, role: 'editor' });
  }
}

/** Authenticates with X-Api-Key, as many API-key guards do: only `req.user` tells who it is. */
@Injectable()
class ApiKeyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: { name: string } }>();
    const key = req.headers['x-api-key'];
    if (key !== undefined) req.user = { name: key.replace('key-', '') };
    return true;
  }
}

/** Authenticates from a signed query token: a user, but no credential header the cache knows. */
@Injectable()
class QueryTokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ query: Record<string, string>; user?: { name: string } }>();
    if (req.query.token !== undefined) req.user = { name: req.query.token };
    return true;
  }
}

@Controller('feed')
class FeedController {
  @Get('mine')
  @UseGuards(ApiKeyGuard)
  @CacheMemoize()
  mine(@Req() req: { user?: { name: string } }) {
    return { for: req.user?.name ?? 'anonymous', run: count('mine') };
  }

  @Get('mine-by-key')
  @UseGuards(ApiKeyGuard)
  @CacheMemoize({ vary: ['x-api-key'] })
  mineByKey(@Req() req: { user?: { name: string } }) {
    return { for: req.user?.name ?? 'anonymous', run: count('mineByKey') };
  }

  @Get('token')
  @UseGuards(QueryTokenGuard)
  @CacheMemoize()
  token(@Req() req: { user?: { name: string } }) {
    return { for: req.user?.name ?? 'anonymous', run: count('token') };
  }

  @Get('localized')
  @CacheMemoize({ vary: ['accept-language'] })
  localized(@Headers('authorization') auth: string | undefined, @Headers('accept-language') lang: string | undefined) {
    return { for: auth ?? 'anonymous', lang, run: count('localized') };
  }

  @Get('custom-credential')
  @CacheMemoize()
  customCredential(@Headers('x-tenant-token') token: string | undefined) {
    return { for: token ?? 'anonymous', run: count('customCredential') };
  }
}

@Controller('tenant')
class TenantController {
  @Get('home')
  @CacheMemoize()
  home(@Req() req: { hostname: string }) {
    return { tenant: req.hostname, run: count(`home:${req.hostname}`) };
  }
}

@Controller('files')
class FilesController {
  @Get('echo')
  @CacheMemoize()
  echo(@Query('q') q: string, @Res({ passthrough: true }) res: Reply) {
    count('echo');
    setType(res, 'text/plain');
    setHeader(res, 'Content-Disposition', 'attachment; filename="echo.txt"');
    setHeader(res, 'X-Total-Count', '3');
    setHeader(res, 'Link', '</files/echo?page=2>; rel="next"');
    setStatus(res, 201);
    return `<script>${q}</script>`;
  }

  @Get('runtime-vary')
  @CacheMemoize()
  runtimeVary(@Headers('accept-language') lang: string, @Res({ passthrough: true }) res: Reply) {
    setHeader(res, 'Vary', 'Accept-Language');
    return { lang, run: count('runtimeVary') };
  }

  @Get('declared-vary')
  @CacheMemoize({ vary: ['accept-language'] })
  declaredVary(@Headers('accept-language') lang: string, @Res({ passthrough: true }) res: Reply) {
    setHeader(res, 'Vary', 'Accept-Language');
    return { lang, run: count('declaredVary') };
  }
}

/** Two controllers of one name, as v1 and v2 of an API often are. */
function usersControllerFor(version: string): Function {
  @Controller(`${version}/accounts`)
  class UsersController {
    @Get(':id')
    @CacheMemoize()
    get(@Param('id') id: string) {
      return { version, id, run: count(`${version}:${id}`) };
    }
  }
  return UsersController;
}

/** Two same-named controllers on one path, told apart by header versioning. */
function headerVersionedFor(version: string): Function {
  @Controller({ path: 'catalog', version })
  class CatalogController {
    @Get()
    @CacheMemoize()
    list() {
      return { version, run: count(`catalog:${version}`) };
    }
  }
  return CatalogController;
}

const adapters = [
  ['express', (trustProxy: boolean) => expressAdapter(trustProxy)],
  ['fastify', (trustProxy: boolean) => new FastifyAdapter({ trustProxy })],
] as const;

function expressAdapter(trustProxy: boolean): ExpressAdapter {
  const adapter = new ExpressAdapter();
  if (trustProxy) adapter.set('trust proxy', true);
  return adapter;
}

const stores: Array<[string, () => CacheStore]> = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
];

async function startApp(
  adapter: ExpressAdapter | FastifyAdapter,
  options: CacheMemoizeModuleOptions,
  controllers: Function[],
  setup?: (app: INestApplication) => void,
): Promise<INestApplication> {
  @Module({
    imports: [CacheMemoizeModule.forRoot(options)],
    controllers: controllers as never[],
    providers: [PriceService, { provide: APP_INTERCEPTOR, useClass: ClassSerializerInterceptor }],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, adapter, { logger: process.env.E2E_LOG ? ['error', 'warn'] : false });
  setup?.(app);
  await app.listen(0, '127.0.0.1');
  return app;
}

beforeEach(() => {
  for (const k of Object.keys(runs)) delete runs[k];
});

describe.each(adapters)('response safety over %s', (_adapterName, makeAdapter) => {
  describe.each(stores)('on %s', (storeName, store) => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    const warnings: string[] = [];
    beforeAll(async () => {
      jest
        .spyOn(Logger.prototype, 'warn')
        .mockImplementation((message: unknown) => void warnings.push(String(message)));
      app = await startApp(
        makeAdapter(false),
        {
          stores: { default: store() },
          prefix: uniquePrefix(storeName),
          classes: [UserEntity, Money],
          privateHeaders: ['X-Tenant-Token'],
        },
        [
          UsersController,
          FeedController,
          TenantController,
          FilesController,
          usersControllerFor('v1'),
          usersControllerFor('v2'),
        ],
      );
      http = request(app.getHttpServer());
    });
    afterAll(async () => {
      await app.close();
      jest.restoreAllMocks();
    });

    it('1. a hit sends what the miss sent through ClassSerializerInterceptor: @Exclude, @Expose getters, groups', async () => {
      const miss = await http.get('/users/7').expect(200);
      expect(miss.headers['x-cache']).toBe('MISS');
      expect(miss.body).toEqual({ id: 7, email: 'u7@example.com', display: '#7 <u7@example.com>' });
      await settle(app); // the write lands in the background
      const hit = await http.get('/users/7').expect(200);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.body).toEqual(miss.body);
      expect(hit.text).not.toContain('hash-7');
      expect(runs.user7).toBe(1);

      const adminMiss = await http.get('/users/8/admin').expect(200);
      await settle(app);
      const adminHit = await http.get('/users/8/admin').expect(200);
      expect(adminHit.headers['x-cache']).toBe('HIT');
      expect(adminMiss.body).toEqual({
        id: 8,
        email: 'u8@example.com',
        role: 'editor',
        display: '#8 <u8@example.com>',
      });
      expect(adminHit.body).toEqual(adminMiss.body);
    });

    it('1. a memoized service method returning a registered class keeps its methods on a hit', async () => {
      const prices = app.get(PriceService);
      prices.runs = 0;
      expect((await prices.price('abc')).format()).toBe('3.00 EUR');
      await settle(app);
      const hit = await prices.price('abc');
      expect(hit).toBeInstanceOf(Money);
      expect(hit.format()).toBe('3.00 EUR');
      expect(prices.runs).toBe(1);
    });

    it('2. users authenticated by a guard (req.user from X-Api-Key) never share a response without vary', async () => {
      const alice = await http.get('/feed/mine').set('X-Api-Key', 'key-alice').expect(200);
      const bob = await http.get('/feed/mine').set('X-Api-Key', 'key-bob').expect(200);
      expect(alice.body.for).toBe('alice');
      expect(bob.body.for).toBe('bob');
      expect(bob.headers['x-cache']).toBe('BYPASS');
      // Varied by the credential it carries: each key gets its own entry, and it is cached.
      await http.get('/feed/mine-by-key').set('X-Api-Key', 'key-alice').expect(200);
      const bobKeyed = await http.get('/feed/mine-by-key').set('X-Api-Key', 'key-bob').expect(200);
      const aliceAgain = await http.get('/feed/mine-by-key').set('X-Api-Key', 'key-alice').expect(200);
      expect(bobKeyed.body.for).toBe('bob');
      expect(aliceAgain.body.for).toBe('alice');
      expect(aliceAgain.headers['x-cache']).toBe('HIT');
      expect(runs.mineByKey).toBe(2);
      // A user set from a credential the cache cannot see (a query token) is never shared either.
      const t1 = await http.get('/feed/token?token=alice').expect(200);
      const t2 = await http.get('/feed/token?token=bob').expect(200);
      expect([t1.body.for, t2.body.for]).toEqual(['alice', 'bob']);
      expect(t2.headers['x-cache']).toBe('BYPASS');
    });

    it('3. a vary that does not cover the credential does not make it shareable', async () => {
      const alice = await http
        .get('/feed/localized')
        .set('Authorization', 'Bearer alice')
        .set('Accept-Language', 'en')
        .expect(200);
      const bob = await http
        .get('/feed/localized')
        .set('Authorization', 'Bearer bob')
        .set('Accept-Language', 'en')
        .expect(200);
      expect(alice.body.for).toBe('Bearer alice');
      expect(bob.body.for).toBe('Bearer bob');
      expect(bob.headers['x-cache']).toBe('BYPASS');
      const cookie = await http
        .get('/feed/localized')
        .set('Cookie', 'sid=carol')
        .set('Accept-Language', 'en')
        .expect(200);
      expect(cookie.headers['x-cache']).toBe('BYPASS');
      // Anonymous requests still share by language.
      await http.get('/feed/localized').set('Accept-Language', 'en').expect(200);
      const anon = await http.get('/feed/localized').set('Accept-Language', 'en').expect(200);
      expect(anon.headers['x-cache']).toBe('HIT');
      // A header named in privateHeaders is a credential too.
      const t1 = await http.get('/feed/custom-credential').set('X-Tenant-Token', 't1').expect(200);
      const t2 = await http.get('/feed/custom-credential').set('X-Tenant-Token', 't2').expect(200);
      expect([t1.body.for, t2.body.for]).toEqual(['t1', 't2']);
      expect(t2.headers['x-cache']).toBe('BYPASS');
    });

    it('4. each tenant host gets its own entry; a forged X-Forwarded-Host is ignored when proxies are not trusted', async () => {
      const acme = await http.get('/tenant/home').set('Host', 'acme.example.com').expect(200);
      const globex = await http.get('/tenant/home').set('Host', 'globex.example.com').expect(200);
      expect(acme.body.tenant).toBe('acme.example.com');
      expect(globex.body.tenant).toBe('globex.example.com');
      expect(globex.headers['x-cache']).toBe('MISS');
      const forged = await http
        .get('/tenant/home')
        .set('Host', 'globex.example.com')
        .set('X-Forwarded-Host', 'acme.example.com')
        .expect(200);
      expect(forged.body.tenant).toBe('globex.example.com');
      await settle(app);
      const acmeAgain = await http.get('/tenant/home').set('Host', 'acme.example.com').expect(200);
      expect(acmeAgain.body.tenant).toBe('acme.example.com');
      expect(acmeAgain.headers['x-cache']).toBe('HIT');
    });

    it('5. two controllers named UsersController (v1, v2) never share entries', async () => {
      const v1 = await http.get('/v1/accounts/1').expect(200);
      const v2 = await http.get('/v2/accounts/1').expect(200);
      expect(v1.body.version).toBe('v1');
      expect(v2.body.version).toBe('v2');
      expect(v2.headers['x-cache']).toBe('MISS');
      await settle(app);
      expect((await http.get('/v1/accounts/1').expect(200)).body.version).toBe('v1');
      expect((await http.get('/v2/accounts/1').expect(200)).body.version).toBe('v2');
      expect([runs['v1:1'], runs['v2:1']]).toEqual([1, 1]);
    });

    it('6. status and headers the handler set at runtime are replayed on hits (and to concurrent joiners)', async () => {
      const responses = await Promise.all(Array.from({ length: 10 }, () => http.get('/files/echo?q=alert(1)')));
      await settle(app);
      responses.push(await http.get('/files/echo?q=alert(1)'));
      expect(responses[responses.length - 1].headers['x-cache']).toBe('HIT');
      for (const res of responses) {
        expect(res.status).toBe(201);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        expect(res.headers['content-disposition']).toBe('attachment; filename="echo.txt"');
        expect(res.headers['x-total-count']).toBe('3');
        expect(res.headers.link).toBe('</files/echo?page=2>; rel="next"');
        expect(res.text).toBe('<script>alert(1)</script>');
      }
      expect(runs.echo).toBe(1);
    });

    it('6. a runtime Vary naming an undeclared request header keeps the response out of the cache', async () => {
      const fr = await http.get('/files/runtime-vary').set('Accept-Language', 'fr').expect(200);
      const de = await http.get('/files/runtime-vary').set('Accept-Language', 'de').expect(200);
      expect([fr.body.lang, de.body.lang]).toEqual(['fr', 'de']);
      expect(runs.runtimeVary).toBe(2);
      // Declared, the same Vary is keyed on and cached.
      await http.get('/files/declared-vary').set('Accept-Language', 'fr').expect(200);
      const de2 = await http.get('/files/declared-vary').set('Accept-Language', 'de').expect(200);
      await settle(app);
      const fr2 = await http.get('/files/declared-vary').set('Accept-Language', 'fr').expect(200);
      expect([de2.body.lang, fr2.body.lang]).toEqual(['de', 'fr']);
      expect(fr2.headers['x-cache']).toBe('HIT');
      expect(fr2.headers.vary).toMatch(/accept-language/i);
      expect(runs.declaredVary).toBe(2);
    });

    if (storeName !== 'memory') {
      it('1. an unregistered class is never stored in a shared store: every response is right, one warning names it', async () => {
        const other = await startApp(
          makeAdapter(false),
          { stores: { default: store() }, prefix: uniquePrefix('unreg') },
          [UsersController],
        );
        try {
          const client = request(other.getHttpServer());
          for (let i = 0; i < 3; i++) {
            const res = await client.get('/users/9').expect(200);
            expect(res.body).toEqual({ id: 9, email: 'u9@example.com', display: '#9 <u9@example.com>' });
            expect(res.headers['x-cache']).toBe('MISS');
          }
          expect(runs.user9).toBe(3);
          const named = warnings.filter((w) => w.includes('UserEntity') && w.includes('classes: [UserEntity]'));
          expect(named).toHaveLength(1);
        } finally {
          await other.close();
        }
      });
    }
  });

  describe('host and proxies', () => {
    it('with trust proxy, the forwarded host is the key (never poisoning the real host); varyByHost: false shares', async () => {
      const trusting = await startApp(makeAdapter(true), { prefix: uniquePrefix('trust') }, [TenantController]);
      try {
        const client = request(trusting.getHttpServer());
        const forged = await client
          .get('/tenant/home')
          .set('Host', 'acme.example.com')
          .set('X-Forwarded-Host', 'evil.example.com')
          .expect(200);
        expect(forged.body.tenant).toBe('evil.example.com');
        const acme = await client.get('/tenant/home').set('Host', 'acme.example.com').expect(200);
        expect(acme.body.tenant).toBe('acme.example.com');
        expect(acme.headers['x-cache']).toBe('MISS');
      } finally {
        await trusting.close();
      }
      const single = await startApp(makeAdapter(false), { prefix: uniquePrefix('single'), varyByHost: false }, [
        TenantController,
      ]);
      try {
        const client = request(single.getHttpServer());
        await client.get('/tenant/home').set('Host', 'a.example.com').expect(200);
        const b = await client.get('/tenant/home').set('Host', 'b.example.com').expect(200);
        expect(b.headers['x-cache']).toBe('HIT');
      } finally {
        await single.close();
      }
    });

    it('two same-named controllers on one path, versioned by header, never share entries', async () => {
      const versioned = await startApp(
        makeAdapter(false),
        { prefix: uniquePrefix('ver') },
        [headerVersionedFor('1'), headerVersionedFor('2')],
        (app) => app.enableVersioning({ type: VersioningType.HEADER, header: 'X-Api-Version' }),
      );
      try {
        const client = request(versioned.getHttpServer());
        const v1 = await client.get('/catalog').set('X-Api-Version', '1').expect(200);
        const v2 = await client.get('/catalog').set('X-Api-Version', '2').expect(200);
        expect([v1.body.version, v2.body.version]).toEqual(['1', '2']);
        expect(v2.headers['x-cache']).toBe('MISS');
        const v1Again = await client.get('/catalog').set('X-Api-Version', '1').expect(200);
        expect(v1Again.body.version).toBe('1');
      } finally {
        await versioned.close();
      }
    });
  });
});

describe('5. two provider classes of one name in different modules', () => {
  function reportServiceModule(name: string): Function {
    @Injectable()
    class ReportService {
      @CacheMemoize()
      async summary(id: number) {
        return { id, from: name };
      }
    }
    @Module({ providers: [ReportService], exports: [ReportService] })
    class M {}
    Object.defineProperty(M, 'name', { value: name });
    return M;
  }

  it('fail at bootstrap, naming both classes, their modules and the namespace option', async () => {
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({}),
        reportServiceModule('BillingModule') as never,
        reportServiceModule('ShopModule') as never,
      ],
    })
    class AppModule {}
    const error = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false }).then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NamespaceConflictError);
    const message = (error as Error).message;
    expect(message).toContain('BillingModule');
    expect(message).toContain('ShopModule');
    expect(message).toContain("namespace 'ReportService.summary'");
    expect(message).toContain('namespace:');
  });
});
