import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import {
  type CallHandler,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  Headers,
  HttpCode,
  Injectable,
  type INestApplication,
  Module,
  type NestInterceptor,
  Post,
  Body,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { firstValueFrom, map } from 'rxjs';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeInterceptor,
  CacheMemoizeModule,
  memoryStore,
  NamespaceConflictError,
  redisStore,
  type CacheMemoizeModuleOptions,
  type CacheRequest,
  type CacheStore,
} from '../../lib';
import { tcpMicroservice } from '../support/rpc-apps';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

/*
 * The adversarial review of the first response-safety change found these (each reproduced on the
 * code before its fix): a hit mutated for one user reaching the next, cookies written as the
 * response goes out, POST bodies not keyed, handler refreshes run after the response was sent,
 * host case folding, static Vary headers, 304/206 answers, identities a vary function misses, two
 * instances of one class, and a global binding caching commands and events.
 */
const servers = sharedServers();
const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Reply = {
  type?(t: string): unknown;
  status?(n: number): unknown;
  header?(n: string, v: string): unknown;
  setHeader?(n: string, v: string): unknown;
};
const setHeader = (res: Reply, name: string, value: string) =>
  res.header ? res.header(name, value) : res.setHeader!(name, value);
const setType = (res: Reply, type: string) => (res.type ? res.type(type) : setHeader(res, 'Content-Type', type));

@Injectable()
class ApiKeyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string>; user?: { email?: string; sub?: string } }>();
    const key = req.headers['x-api-key'];
    if (key !== undefined) req.user = { email: `${key}@example.com`, sub: key };
    return true;
  }
}

/** A global response decorator, as many apps have: tells the front end who is signed in. */
@Injectable()
class ViewerInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler) {
    const req = context.switchToHttp().getRequest<{ user?: { email: string } }>();
    return next.handle().pipe(
      map((data: unknown) => {
        if (req.user && typeof data === 'object' && data !== null)
          (data as Record<string, unknown>).viewer = req.user.email;
        return data;
      }),
    );
  }
}

const kCookies = Symbol('cookies');
type CookieReply = Reply & { [kCookies]?: Map<string, string>; setCookie?(n: string, v: string): void };
/** As express-session (on-headers) and @fastify/cookie (onSend) do: Set-Cookie only as headers go out. */
function deferCookie(res: CookieReply, name: string, value: string): void {
  if (res.setCookie) return res.setCookie(name, value);
  const r = res as unknown as { writeHead: (...a: unknown[]) => unknown; setHeader: (n: string, v: string) => void };
  const original = r.writeHead;
  r.writeHead = function (this: unknown, ...args: unknown[]) {
    r.setHeader('Set-Cookie', `${name}=${value}; HttpOnly`);
    return original.apply(this, args);
  };
}

@Controller('r')
class ReviewController {
  @Get('news')
  @UseGuards(ApiKeyGuard)
  @CacheMemoize({ public: true })
  news() {
    return { headlines: ['a', 'b'], run: count('news') };
  }

  @Get('cart')
  @CacheMemoize()
  guestCart(@Res({ passthrough: true }) res: CookieReply) {
    const cartId = randomUUID();
    deferCookie(res, 'cart', cartId);
    return { cartId };
  }

  @Post('search')
  @CacheMemoize({ httpMethods: ['POST'] })
  search(@Body() body: { q: string }) {
    return { results: [`result for ${body.q}`], run: count('search') };
  }

  @Get('stale')
  @CacheMemoize({ ttl: '300ms', grace: '1m' })
  async stale(@Query('q') q: string, @Res({ passthrough: true }) res: Reply) {
    count('stale');
    await sleep(30);
    setType(res, 'text/plain');
    setHeader(res, 'Content-Disposition', 'attachment; filename="q.txt"');
    res.status!(201);
    return `<script>${q}</script>#${runs.stale}`;
  }

  @Get('host')
  @CacheMemoize()
  host(@Req() req: { hostname: string }) {
    return { host: req.hostname, run: count(`host:${req.hostname}`) };
  }

  @Get('static-vary')
  @Header('Vary', 'Accept-Language')
  @CacheMemoize()
  staticVary(@Headers('accept-language') lang: string) {
    return { lang, run: count('staticVary') };
  }

  @Get('not-modified')
  @HttpCode(304)
  @CacheMemoize()
  notModified() {
    count('notModified');
  }

  @Get('partial')
  @CacheMemoize()
  partial(@Res({ passthrough: true }) res: Reply) {
    res.status!(206);
    return { part: 1, run: count('partial') };
  }

  @Get('by-user')
  @UseGuards(ApiKeyGuard)
  @CacheMemoize({ vary: (r: CacheRequest) => (r.user as { id?: string } | undefined)?.id })
  byUser(@Req() req: { user?: { email: string } }) {
    return { for: req.user?.email, run: count('byUser') };
  }
}

const adapters = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;

async function startApp(
  adapter: ExpressAdapter | FastifyAdapter,
  options: CacheMemoizeModuleOptions,
  setup?: (app: INestApplication) => void,
): Promise<INestApplication> {
  @Module({
    imports: [CacheMemoizeModule.forRoot(options)],
    controllers: [ReviewController],
    providers: [{ provide: APP_INTERCEPTOR, useClass: ViewerInterceptor }],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  setup?.(app);
  await app.listen(0, '127.0.0.1');
  return app;
}

/** The fastify side of deferCookie: a reply decorator and an onSend hook. */
function fastifyCookies(app: INestApplication): void {
  if (!(app.getHttpAdapter() instanceof FastifyAdapter)) return;
  const f = (app as NestFastifyApplication).getHttpAdapter().getInstance();
  f.decorateReply('setCookie', function (this: CookieReply, n: string, v: string) {
    (this[kCookies] ??= new Map()).set(n, v);
    return this;
  });
  f.addHook('onSend', async (_req, reply, payload) => {
    const jar = (reply as unknown as CookieReply)[kCookies];
    if (jar)
      reply.header(
        'set-cookie',
        [...jar].map(([k, v]) => `${k}=${v}; HttpOnly`),
      );
    return payload;
  });
}

beforeEach(() => {
  for (const k of Object.keys(runs)) delete runs[k];
});

describe.each(adapters)('review regressions over %s', (_adapter, makeAdapter) => {
  describe.each([
    ['memory', (): CacheStore => memoryStore()],
    ['redis', (): CacheStore => redisStore({ url: servers.redis })],
  ])('on %s', (storeName, store) => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => {
      app = await startApp(
        makeAdapter(),
        { stores: { default: store() }, prefix: uniquePrefix(storeName) },
        fastifyCookies,
      );
      http = request(app.getHttpServer());
    });
    afterAll(() => app.close());

    it('what an outer interceptor adds to a response for one user never reaches the next', async () => {
      await http.get('/r/news').expect(200); // anonymous: the entry
      await settle(app);
      const alice = await http.get('/r/news').set('X-Api-Key', 'alice').expect(200);
      expect(alice.body.viewer).toBe('alice@example.com');
      expect(alice.headers['x-cache']).toBe('HIT');
      const anonymous = await http.get('/r/news').expect(200);
      expect(anonymous.body.viewer).toBeUndefined();
      expect(anonymous.headers['x-cache']).toBe('HIT');
    });

    it('a Set-Cookie written as the response goes out keeps it out of the cache (two visitors, two carts)', async () => {
      const a = await http.get('/r/cart').expect(200);
      await settle(app);
      const b = await http.get('/r/cart').expect(200);
      expect(b.body.cartId).not.toBe(a.body.cartId);
      expect(b.headers['set-cookie']?.[0]).toContain(b.body.cartId);
    });

    it('a POST cached with httpMethods is keyed by its body', async () => {
      const alice = await http.post('/r/search').send({ q: 'alice private query' }).expect(201);
      const bob = await http.post('/r/search').send({ q: 'bob' }).expect(201);
      expect(bob.body.results).toEqual(['result for bob']);
      expect(bob.headers['x-cache']).toBe('MISS');
      await settle(app);
      const again = await http.post('/r/search').send({ q: 'alice private query' }).expect(201);
      expect(again.body).toEqual(alice.body);
      expect(again.headers['x-cache']).toBe('HIT');
    });

    it('past its ttl within grace, every answer carries the status and headers its handler set (the refresher waits, the rest get stale)', async () => {
      const first = await http.get('/r/stale?q=alert(1)');
      await sleep(400); // past ttl, within grace
      const [refresher, ...others] = await Promise.all(
        Array.from({ length: 5 }, () => http.get('/r/stale?q=alert(1)')),
      );
      for (const res of [first, refresher, ...others]) {
        expect(res.status).toBe(201);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        expect(res.headers['content-disposition']).toBe('attachment; filename="q.txt"');
      }
      expect(runs.stale).toBe(2); // one refresh, no failure on a response already sent
      await settle(app);
      const after = await http.get('/r/stale?q=alert(1)').expect(201);
      expect(after.text).toBe('<script>alert(1)</script>#2');
      expect(after.headers['x-cache']).toBe('HIT');
    });

    it('the host is keyed as the app reads it: ACME.example.com and acme.example.com never share', async () => {
      const upper = await http.get('/r/host').set('Host', 'ACME.example.com').expect(200);
      const lower = await http.get('/r/host').set('Host', 'acme.example.com').expect(200);
      expect(lower.body.host).toBe('acme.example.com');
      expect(upper.body.host).not.toBe(lower.body.host);
      expect(lower.headers['x-cache']).toBe('MISS');
    });

    it('a static @Header Vary is keyed on', async () => {
      await http.get('/r/static-vary').set('Accept-Language', 'en').expect(200);
      const fr = await http.get('/r/static-vary').set('Accept-Language', 'fr').expect(200);
      expect(fr.body.lang).toBe('fr');
      await settle(app);
      const en = await http.get('/r/static-vary').set('Accept-Language', 'en').expect(200);
      expect(en.headers['x-cache']).toBe('HIT');
    });

    it('304 and 206 answers are never cached', async () => {
      await http.get('/r/not-modified').expect(304);
      await http.get('/r/not-modified').expect(304);
      await http.get('/r/partial').expect(206);
      await http.get('/r/partial').expect(206);
      expect([runs.notModified, runs.partial]).toEqual([2, 2]);
    });

    it('an identified request whose vary function finds no identity is not shared', async () => {
      const alice = await http.get('/r/by-user').set('X-Api-Key', 'alice').expect(200);
      const bob = await http.get('/r/by-user').set('X-Api-Key', 'bob').expect(200);
      expect([alice.body.for, bob.body.for]).toEqual(['alice@example.com', 'bob@example.com']);
      expect(bob.headers['x-cache']).toBe('BYPASS');
    });
  });
});

describe('two instances of one memoized class', () => {
  async function boot(
    Client: new (tenant: string) => { billing(id: number): Promise<{ card: string }> },
    store: () => CacheStore,
  ): Promise<unknown> {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: store() }, prefix: uniquePrefix('tenants') })],
      providers: [
        { provide: 'acme', useFactory: () => new Client('acme') },
        { provide: 'globex', useFactory: () => new Client('globex') },
      ],
    })
    class Root {}
    return NestFactory.createApplicationContext(Root, { logger: false, abortOnError: false });
  }

  it('fail at bootstrap without instanceKey, naming the class and the fix', async () => {
    class TenantClient {
      constructor(readonly tenant: string) {}
      @CacheMemoize()
      async billing(id: number) {
        return { card: `card-of-${this.tenant}-${id}` };
      }
    }
    // (A boot that fails leaves no app to close: a memory store, so no connection is left open.)
    const error = await boot(TenantClient, () => memoryStore()).then(
      async (app) => (await (app as { close(): Promise<void> }).close(), undefined),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NamespaceConflictError);
    expect((error as Error).message).toMatch(
      /TenantClient has a second instance .*instanceKey: \(self: TenantClient\) => self\.tenantId/,
    );
  });

  it('with instanceKey, each instance gets its own entries', async () => {
    class TenantClient {
      constructor(readonly tenant: string) {}
      @CacheMemoize({ instanceKey: (self: TenantClient) => self.tenant })
      async billing(id: number) {
        return { card: `card-of-${this.tenant}-${id}` };
      }
    }
    const app = (await boot(TenantClient, () => redisStore({ url: servers.redis }))) as {
      get<T>(token: string): T;
      close(): Promise<void>;
    };
    try {
      const a = app.get<TenantClient>('acme');
      const g = app.get<TenantClient>('globex');
      expect((await a.billing(1)).card).toBe('card-of-acme-1');
      await sleep(20);
      expect((await g.billing(1)).card).toBe('card-of-globex-1');
      expect((await a.billing(1)).card).toBe('card-of-acme-1');
    } finally {
      await app.close();
    }
  });
});

describe('a global binding on a microservice', () => {
  let invoices = 0;
  let events = 0;
  @Controller()
  class BillingController {
    @MessagePattern('create_invoice')
    create(@Payload() data: { customer: string }) {
      invoices++;
      return { invoiceId: `inv-${invoices}`, ...data };
    }

    @EventPattern('payment_received')
    received() {
      events++;
    }
  }

  it('caches no undecorated command and never an event', async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({})],
      controllers: [BillingController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor }],
    })
    class RpcModule {}
    const { service, client } = await tcpMicroservice(RpcModule);
    try {
      const a = await firstValueFrom(client.send('create_invoice', { customer: 'c1' }));
      const b = await firstValueFrom(client.send('create_invoice', { customer: 'c1' }));
      expect([a.invoiceId, b.invoiceId]).toEqual(['inv-1', 'inv-2']);
      client.emit('payment_received', { amount: 10 });
      client.emit('payment_received', { amount: 10 });
      // Both reach the handler unless one was cached: wait for that, bounded, then compare.
      await until(() => events >= 2, 3_000).catch(() => undefined);
      expect(events).toBe(2);
    } finally {
      client.close();
      await service.close();
    }
  });
});
