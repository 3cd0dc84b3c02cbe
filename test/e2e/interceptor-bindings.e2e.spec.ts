import 'reflect-metadata';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  Headers,
  type INestApplication,
  Injectable,
  Module,
  type NestInterceptor,
  type Type,
  UseInterceptors,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { map, type Observable } from 'rxjs';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeInterceptor, CacheMemoizeModule } from '../../lib';
import { settle } from '../support/settle';

/*
 * A subclass that keys differently (here: by tenant) must be the one that caches a route, however
 * it is bound next to the plain interceptor that `@CacheMemoize` or a global binding adds. Before,
 * the outermost of them did the work: with the plain one outside (a global binding, or
 * `@UseInterceptors(Tenant)` written above `@CacheMemoize`), the subclass's `trackBy` never ran and
 * one tenant was served another's response.
 */
let runs = 0;
let keyings = 0;

@Injectable()
class TenantInterceptor extends CacheMemoizeInterceptor {
  protected override trackBy(...args: Parameters<CacheMemoizeInterceptor['trackBy']>): unknown {
    keyings++;
    const base = super.trackBy(...args);
    const tenant = args[1].headers['x-tenant'];
    return base === undefined || typeof tenant !== 'string' ? undefined : { base, tenant };
  }
}

/** Changes every response on its way out: a hit must reach it as an object, as the miss did. */
@Injectable()
class StampInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data: unknown) => ({ ...(data as object), stamped: true })));
  }
}

@Controller('b')
class BindingsController {
  /** Decorators apply bottom-up: CacheMemoizeInterceptor is bound first, so it runs outside the subclass. */
  @Get('above') @UseInterceptors(TenantInterceptor) @CacheMemoize({ ttl: '1m' }) above() {
    return { run: ++runs };
  }

  @Get('below') @CacheMemoize({ ttl: '1m' }) @UseInterceptors(TenantInterceptor) below() {
    return { run: ++runs };
  }

  @Get('only') @UseInterceptors(TenantInterceptor) only() {
    return { run: ++runs };
  }

  @Get('stamped') @UseInterceptors(StampInterceptor, TenantInterceptor) stamped() {
    return { run: ++runs, items: [1, 2] };
  }

  @Get('plain') @CacheMemoize({ ttl: '1m' }) plain() {
    return { run: ++runs };
  }
}

/** A public catalog; the account controller inherits its handler but is private (one entry per key holder, or none). */
@Controller('catalog')
@CacheMemoize({ ttl: '1m', public: true })
class CatalogController {
  @Get() list(@Headers('x-api-key') key?: string) {
    return { offer: key === undefined ? 'public' : `offer-for-${key}`, run: ++runs };
  }
}

@Controller('account-catalog')
@CacheMemoize({ ttl: '1m' })
class AccountCatalogController extends CatalogController {}

async function start(adapter: ExpressAdapter | FastifyAdapter, global?: Type<NestInterceptor>) {
  @Module({
    imports: [CacheMemoizeModule.forRoot({})],
    controllers: [BindingsController, CatalogController, AccountCatalogController],
    providers: global === undefined ? [] : [{ provide: APP_INTERCEPTOR, useClass: global }],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, http: request(app.getHttpServer()) };
}

const adapters = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;

describe.each(adapters)('a trackBy subclass bound beside the plain interceptor, over %s', (_name, makeAdapter) => {
  /** Tenant a twice, then tenant b: b never gets a's entry, and a's second call is a hit. */
  async function tenantsApart(app: INestApplication, http: ReturnType<typeof request>, path: string) {
    const a1 = await http.get(path).set('x-tenant', 'a').expect(200);
    await settle(app);
    const a2 = await http.get(path).set('x-tenant', 'a').expect(200);
    const b1 = await http.get(path).set('x-tenant', 'b').expect(200);
    await settle(app);
    const b2 = await http.get(path).set('x-tenant', 'b').expect(200);
    expect(a1.headers['x-cache']).toBe('MISS');
    expect(a2.headers['x-cache']).toBe('HIT');
    expect(a2.body).toEqual(a1.body);
    expect(b1.headers['x-cache']).toBe('MISS');
    expect(b1.body.run).not.toBe(a1.body.run);
    expect(b2.headers['x-cache']).toBe('HIT');
    expect(b2.body).toEqual(b1.body);
    return { a1, a2, b1, b2 };
  }

  describe('bound on the route only', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => ({ app, http } = await start(makeAdapter())));
    afterAll(() => app.close());

    it('@UseInterceptors(Tenant) above @CacheMemoize: the subclass keys the route', async () => {
      await tenantsApart(app, http, '/b/above');
    });

    it('@UseInterceptors(Tenant) below @CacheMemoize: the subclass keys the route', async () => {
      await tenantsApart(app, http, '/b/below');
    });

    it('the subclass keys each request once', async () => {
      const before = keyings;
      await http.get('/b/above').set('x-tenant', 'c').expect(200);
      await settle(app);
      await http.get('/b/above').set('x-tenant', 'c').expect(200);
      expect(keyings - before).toBe(2);
    });

    it('without a tenant the subclass leaves the request uncached, and nothing outside it caches it', async () => {
      const first = await http.get('/b/above').expect(200);
      await settle(app);
      const second = await http.get('/b/above').expect(200);
      expect(second.body.run).toBe(first.body.run + 1);
      expect(second.headers['x-cache']).toBe('BYPASS');
    });
  });

  describe('the plain interceptor bound globally, the subclass on routes', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => ({ app, http } = await start(makeAdapter(), CacheMemoizeInterceptor)));
    afterAll(() => app.close());

    it('the subclass keys the route', async () => {
      await tenantsApart(app, http, '/b/only');
      await tenantsApart(app, http, '/b/above');
    });

    it('an interceptor between them sees every hit as an object (no stored JSON text skips it)', async () => {
      const { a2 } = await tenantsApart(app, http, '/b/stamped');
      expect(a2.body).toEqual({ run: expect.any(Number), items: [1, 2], stamped: true });
    });

    it('routes without the subclass are cached by the global binding as before', async () => {
      const first = await http.get('/b/plain').set('x-tenant', 'a').expect(200);
      await settle(app);
      const second = await http.get('/b/plain').set('x-tenant', 'b').expect(200);
      expect(second.headers['x-cache']).toBe('HIT');
      expect(second.body).toEqual(first.body);
    });
  });

  describe('the subclass bound globally, @CacheMemoize on routes', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => ({ app, http } = await start(makeAdapter(), TenantInterceptor)));
    afterAll(() => app.close());

    it('the subclass keys every route', async () => {
      await tenantsApart(app, http, '/b/plain');
    });
  });

  describe('a handler two controllers share by inheritance', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => ({ app, http } = await start(makeAdapter())));
    afterAll(() => app.close());

    it("each controller's own options apply: the private one never shares an identified response", async () => {
      await http.get('/catalog').set('x-api-key', 'alice').expect(200); // the public route, seen first
      await settle(app);
      const alice = await http.get('/account-catalog').set('x-api-key', 'alice').expect(200);
      await settle(app);
      const bob = await http.get('/account-catalog').set('x-api-key', 'bob').expect(200);
      expect(alice.body.offer).toBe('offer-for-alice');
      expect(bob.body.offer).toBe('offer-for-bob');
      expect(bob.headers['x-cache']).toBe('BYPASS');
    });
  });
});
