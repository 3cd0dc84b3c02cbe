import 'reflect-metadata';
import { createHash } from 'node:crypto';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  type INestApplication,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestInterceptor,
  type NestMiddleware,
  Param,
  Post,
  Req,
  Res,
  type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication, RouteSchema } from '@nestjs/platform-fastify';
import { map } from 'rxjs';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { settle } from '../support/settle';

/*
 * The fourth adversarial review of cached responses: a framework serializer that changes the
 * body under the ETag, a middleware's Vary, bodies Express leaves unparsed, a header a handler
 * removed, a failed run's headers under a stale answer, a body whose statusCode changes its
 * Content-Type, a URL in a body, and the handler's own ETag on Fastify. Each case failed before
 * its fix.
 */

const adapters = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;
type Adapter = (typeof adapters)[number][1];

async function boot<T extends INestApplication>(
  module: Type<unknown>,
  adapter: ExpressAdapter | FastifyAdapter,
  setup?: (app: T) => void,
): Promise<T> {
  const app = await NestFactory.create<T>(module, adapter, { logger: false });
  setup?.(app);
  await app.listen(0, '127.0.0.1');
  return app;
}

type AnyRes = { header?(n: string, v: string): unknown; setHeader?(n: string, v: string): unknown };
const set = (res: AnyRes, name: string, value: string) =>
  res.header ? res.header(name, value) : res.setHeader!(name, value);

// --- An ETag hashes what is sent: never a field a framework serializer drops ----------------------

const sha = (text: string) => `"${createHash('sha1').update(text).digest('base64url')}"`;
/** The 4-digit pin behind an ETag, by brute force over the stored value's JSON. */
const crack = (etag: string | undefined) =>
  Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0')).find(
    (pin) => sha(JSON.stringify({ id: '1', name: 'shared-name', pin })) === etag,
  );
const account = (id: string) => ({ id, name: 'shared-name', pin: id === '1' ? '4821' : '0000' });

@Controller('acct')
class AccountController {
  @Get(':id')
  @CacheMemoize({ public: true })
  account(@Param('id') id: string) {
    return account(id);
  }
}

@Controller('schema')
class SchemaController {
  @Get(':id')
  @RouteSchema({
    response: { 200: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } } },
  })
  @CacheMemoize({ public: true })
  account(@Param('id') id: string) {
    return account(id);
  }
}

@Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [AccountController, SchemaController] })
class AccountModule {}

const withoutPin = (body: unknown) => {
  if (typeof body !== 'object' || body === null) return body;
  const { pin: _pin, ...rest } = body as Record<string, unknown>;
  return rest;
};

describe.each([
  [
    'an Express json replacer',
    () =>
      boot<NestExpressApplication>(AccountModule, new ExpressAdapter(), (app) =>
        app.set('json replacer', (k: string, v: unknown) => (k === 'pin' ? undefined : v)),
      ),
    '/acct/1',
  ],
  [
    'an Express middleware wrapping res.json',
    () =>
      boot<NestExpressApplication>(AccountModule, new ExpressAdapter(), (app) =>
        app.use((_req: unknown, res: { json(b: unknown): unknown }, next: () => void) => {
          const json = res.json.bind(res);
          res.json = (body: unknown) => json(withoutPin(body));
          next();
        }),
      ),
    '/acct/1',
  ],
  [
    'a Fastify preSerialization hook',
    () =>
      boot<NestFastifyApplication>(AccountModule, new FastifyAdapter(), (app) =>
        app
          .getHttpAdapter()
          .getInstance()
          .addHook('preSerialization', async (req: { headers: Record<string, unknown> }, _reply: unknown, payload) => {
            const rest = withoutPin(payload);
            return typeof rest === 'object' ? { ...rest, viewer: req.headers['x-viewer'] ?? 'guest' } : payload;
          }),
      ),
    '/acct/1',
  ],
  ['a Fastify response schema', () => boot<NestFastifyApplication>(AccountModule, new FastifyAdapter()), '/schema/1'],
] as const)('the ETag under %s that drops a field', (_name, start, path) => {
  let app: INestApplication;
  beforeAll(async () => (app = await start()));
  afterAll(() => app.close());

  it('reveals nothing of the dropped field, on the miss or on hits, and confirms no other viewer', async () => {
    const miss = await request(app.getHttpServer()).get(path).set('X-Viewer', 'alice');
    await settle(app);
    const hit = await request(app.getHttpServer()).get(path).set('X-Viewer', 'alice');
    const bob = await request(app.getHttpServer())
      .get(path)
      .set('X-Viewer', 'bob')
      .set('If-None-Match', hit.headers.etag ?? '"none"');
    const bobsBody = await request(app.getHttpServer()).get(path).set('X-Viewer', 'bob');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect([miss.body.pin, hit.body.pin]).toEqual([undefined, undefined]);
    expect([crack(miss.headers.etag), crack(hit.headers.etag)]).toEqual([undefined, undefined]);
    // A 304 says "the body you have is the body you would get": only where it is.
    expect(bob.status === 304 && bobsBody.text !== hit.text).toBe(false);
  });
});

describe.each(adapters)('the ETag on the framework defaults, over %s (control)', (_name, adapter: Adapter) => {
  let app: INestApplication;
  beforeAll(async () => (app = await boot(AccountModule, adapter())));
  afterAll(() => app.close());

  it('is the stored body hash, and a match is answered 304', async () => {
    const miss = await request(app.getHttpServer()).get('/acct/1');
    await settle(app);
    const hit = await request(app.getHttpServer())
      .get('/acct/1')
      .set('If-None-Match', miss.headers.etag ?? '"none"');
    expect(crack(miss.headers.etag)).toBe('4821');
    expect(hit.status).toBe(304);
  });
});

// --- A middleware's Vary on a header the key does not include ------------------------------------

type TenantReq = { headers: Record<string, string>; tenant?: string; raw?: { tenant?: string } };

@Injectable()
class TenantMiddleware implements NestMiddleware {
  use(req: TenantReq, res: { setHeader(n: string, v: string): void }, next: () => void) {
    req.tenant = req.headers['x-tenant-id'] ?? 'public';
    res.setHeader('Vary', 'X-Tenant-Id');
    next();
  }
}

let invoiceRuns = 0;
@Controller('tenant')
class TenantController {
  @Get('invoices')
  @CacheMemoize()
  invoices(@Req() req: TenantReq) {
    invoiceRuns++;
    const tenant = req.tenant ?? req.raw?.tenant;
    return { tenant, invoices: [`${tenant}-invoice-1`] };
  }

  @Get('declared')
  @CacheMemoize({ vary: ['x-tenant-id'] })
  declared(@Req() req: TenantReq) {
    invoiceRuns++;
    return { tenant: req.tenant ?? req.raw?.tenant };
  }

  @Get('plain')
  @CacheMemoize()
  plain() {
    invoiceRuns++;
    return { catalog: ['a'] };
  }
}

describe.each(adapters)('a Vary a middleware set before the handler, over %s', (_name, adapter: Adapter) => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [TenantController] })
  class TenantModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(TenantMiddleware).forRoutes('tenant/invoices', 'tenant/declared');
    }
  }
  let app: INestApplication;
  let corsApp: INestApplication;
  beforeAll(async () => {
    app = await boot(TenantModule, adapter());
    // Apart: Fastify's CORS Vary would replace the tenant middleware's.
    corsApp = await boot(TenantModule, adapter(), (a) => a.enableCors({ origin: true }));
  });
  afterAll(() => Promise.all([app.close(), corsApp.close()]));
  const get = (path: string, tenant?: string) => {
    const r = request(app.getHttpServer()).get(path);
    return tenant === undefined ? r : r.set('X-Tenant-Id', tenant);
  };

  it('naming an undeclared header keeps the response out: tenant globex never gets acme invoices', async () => {
    const acme = await get('/tenant/invoices', 'acme');
    expect(acme.headers.vary).toContain('X-Tenant-Id');
    await settle(app);
    const globex = await get('/tenant/invoices', 'globex');
    expect(globex.body).toEqual({ tenant: 'globex', invoices: ['globex-invoice-1'] });
    expect(globex.headers['x-cache']).not.toBe('HIT');
  });

  it('naming a declared header is cached per value', async () => {
    await get('/tenant/declared', 'acme');
    await settle(app);
    const runs = invoiceRuns;
    const [acme, globex] = [await get('/tenant/declared', 'acme'), await get('/tenant/declared', 'globex')];
    expect([acme.headers['x-cache'], acme.body.tenant, globex.body.tenant]).toEqual(['HIT', 'acme', 'globex']);
    expect(invoiceRuns).toBe(runs + 1);
  });

  it("CORS's Vary: Origin still caches (control)", async () => {
    const cors = () => request(corsApp.getHttpServer()).get('/tenant/plain').set('Origin', 'https://a.example');
    const miss = await cors();
    expect(miss.headers.vary).toMatch(/Origin/);
    await settle(corsApp);
    const hit = await cors();
    expect(hit.headers['x-cache']).toBe('HIT');
  });
});

// --- Bodies Express does not parse -----------------------------------------------------------------

type BodyReq = NodeJS.ReadableStream & { body?: unknown };
async function text(req: BodyReq): Promise<string> {
  if (typeof req.body === 'string') return req.body;
  let data = '';
  for await (const c of req) data += String(c);
  return data;
}

@Controller('search')
class SearchController {
  /** An Elasticsearch-style _msearch proxy: a GET with an NDJSON body. */
  @Get('msearch')
  @CacheMemoize()
  async msearch(@Req() req: BodyReq) {
    return { lines: (await text(req)).split('\n').filter(Boolean) };
  }

  @Post('text')
  @CacheMemoize({ httpMethods: ['POST'] })
  async byText(@Req() req: BodyReq) {
    return { echo: await text(req) };
  }

  @Post('json')
  @CacheMemoize({ httpMethods: ['POST'] })
  byJson(@Req() req: BodyReq) {
    return { echo: req.body };
  }
}

describe('bodies Express does not parse', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [SearchController] })
  class SearchModule {}
  let app: INestApplication;
  beforeAll(async () => (app = await boot(SearchModule, new ExpressAdapter())));
  afterAll(() => app.close());
  const ndjson = (body: string) =>
    request(app.getHttpServer()).get('/search/msearch').set('Content-Type', 'application/x-ndjson').send(body);
  const plain = (body: string) =>
    request(app.getHttpServer()).post('/search/text').set('Content-Type', 'text/plain').send(body);

  it('two GETs with different NDJSON bodies never share an answer', async () => {
    await ndjson('{"index":"patients"}\n{"query":"alice diagnosis"}\n');
    await settle(app);
    const b = await ndjson('{"index":"public"}\n{"query":"news"}\n');
    expect(b.body.lines).toEqual(['{"index":"public"}', '{"query":"news"}']);
    expect(b.headers['x-cache']).toBe('BYPASS');
  });

  it('two cached POSTs with different text bodies never share an answer', async () => {
    await plain('alice-secret');
    await settle(app);
    const b = await plain('bob');
    expect([b.body.echo, b.headers['x-cache']]).toEqual(['bob', 'BYPASS']);
  });

  it('a JSON body is still keyed and cached (control)', async () => {
    const post = (q: string) => request(app.getHttpServer()).post('/search/json').send({ q });
    await post('alice');
    await settle(app);
    const [again, other] = [await post('alice'), await post('bob')];
    expect([again.headers['x-cache'], again.body.echo, other.body.echo]).toEqual(['HIT', { q: 'alice' }, { q: 'bob' }]);
  });
});

// --- What a hit sends: headers removed, a failed run undone, Content-Type, URLs, own ETag ----------

@Injectable()
class FrameOptions implements NestMiddleware {
  use(_req: unknown, res: { setHeader(n: string, v: string): void }, next: () => void) {
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  }
}

let failNext = false;
@Controller('hit')
class HitController {
  /** An embeddable widget: allowed in frames, unlike the rest of the app. */
  @Get('widget')
  @CacheMemoize()
  widget(@Res({ passthrough: true }) res: { removeHeader(n: string): void }) {
    res.removeHeader('X-Frame-Options');
    return { html: '<div>widget</div>' };
  }

  @Get('report')
  @CacheMemoize({ ttl: 50, staleIfError: '1m' })
  report(@Res({ passthrough: true }) res: AnyRes) {
    if (failNext) {
      // An error path that prepares a plain-text diagnostic before giving up.
      set(res, 'Content-Type', 'text/plain');
      set(res, 'X-Error-Detail', 'replica db-2 refused user report_ro');
      throw new Error('database unavailable');
    }
    return { total: 10 };
  }

  /** A JSON:API status report: Nest's reply() gives a body with statusCode >= 400 a JSON type. */
  @Get('status')
  @Header('Content-Type', 'application/vnd.api+json')
  @CacheMemoize()
  status() {
    return { service: 'payments', statusCode: 503 };
  }

  @Get('doc')
  @CacheMemoize()
  doc(@Res({ passthrough: true }) res: AnyRes) {
    set(res, 'ETag', '"rev-7"');
    return { rev: 7 };
  }

  @Get('links')
  @CacheMemoize()
  links() {
    return { self: new URL('https://api.example.com/links?page=1'), query: new URLSearchParams('a=1&b=2') };
  }
}

/** The common "wrap every response" interceptor: hits are then copies, not the stored JSON text. */
@Injectable()
class EnvelopeInterceptor implements NestInterceptor {
  intercept(_c: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(map((data: unknown) => ({ data })));
  }
}

describe.each(adapters)('what a hit sends, over %s', (_name, adapter: Adapter) => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [HitController] })
  class HitModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(FrameOptions).forRoutes('hit/widget');
    }
  }
  @Module({
    imports: [CacheMemoizeModule.forRoot({})],
    controllers: [HitController],
    providers: [{ provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor }],
  })
  class EnvelopeModule {}
  let app: INestApplication;
  let enveloped: INestApplication;
  beforeAll(async () => {
    app = await boot(HitModule, adapter());
    enveloped = await boot(EnvelopeModule, adapter());
  });
  afterAll(() => Promise.all([app.close(), enveloped.close()]));
  const twice = async (target: INestApplication, path: string) => {
    const miss = await request(target.getHttpServer()).get(path);
    await settle(target);
    return [miss, await request(target.getHttpServer()).get(path)] as const;
  };

  it('a header the handler removed stays removed (as on the miss)', async () => {
    const [miss, hit] = await twice(app, '/hit/widget');
    expect(hit.headers['x-cache']).toBe('HIT');
    // Fastify's reply.removeHeader leaves a header a middleware set on the raw response: the miss keeps it too.
    expect(miss.headers['x-frame-options']).toBe(_name === 'express' ? undefined : 'DENY');
    expect(hit.headers['x-frame-options']).toBe(miss.headers['x-frame-options']);
  });

  it('a stale answer carries nothing the failed run set', async () => {
    const miss = await request(app.getHttpServer()).get('/hit/report');
    await settle(app);
    await new Promise((r) => setTimeout(r, 120));
    failNext = true;
    const stale = await request(app.getHttpServer())
      .get('/hit/report')
      .then(
        (r) => ((failNext = false), r),
        (e: unknown) => ((failNext = false), Promise.reject(e)),
      );
    expect({
      status: stale.status,
      cache: stale.headers['x-cache'],
      type: stale.headers['content-type'],
      detail: stale.headers['x-error-detail'],
      body: stale.text,
    }).toEqual({ status: 200, cache: 'STALE', type: miss.headers['content-type'], detail: undefined, body: miss.text });
  });

  it('a body with a statusCode field keeps the Content-Type the miss had', async () => {
    const [miss, hit] = await twice(app, '/hit/status');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect([hit.text, hit.headers['content-type']]).toEqual([miss.text, miss.headers['content-type']]);
  });

  it("the handler's own ETag is answered 304", async () => {
    await twice(app, '/hit/doc');
    const hit = await request(app.getHttpServer()).get('/hit/doc').set('If-None-Match', '"rev-7"');
    expect([hit.status, hit.headers.etag]).toEqual([304, '"rev-7"']);
  });

  it('a URL in the body is copied whole for every hit (under an outer interceptor)', async () => {
    const [miss, hit] = await twice(enveloped, '/hit/links');
    expect([miss.status, hit.status, hit.headers['x-cache']]).toEqual([200, 200, 'HIT']);
    expect(hit.body).toEqual({ data: { self: 'https://api.example.com/links?page=1', query: {} } });
    expect(hit.text).toBe(miss.text);
  });
});
