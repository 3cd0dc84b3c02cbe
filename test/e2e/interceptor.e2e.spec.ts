import 'reflect-metadata';
import { Readable } from 'node:stream';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  HttpCode,
  Injectable,
  type INestApplication,
  Module,
  NotFoundException,
  Param,
  Post,
  Query,
  Res,
  ServiceUnavailableException,
  StreamableFile,
  UseGuards,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { of, type Observable } from 'rxjs';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeInterceptor,
  CacheMemoizeModule,
  cacheHandle,
  InvalidationService,
  type CacheRequest,
} from '../../lib';

const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sets req.user from `Authorization: Bearer <name>`, as a Passport guard would. */
@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: { name: string } }>();
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) req.user = { name: auth.slice(7) };
    return true;
  }
}

@Controller()
class ShopController {
  @Get('items/:id')
  @CacheMemoize({ ttl: '1m', requestTags: (r: CacheRequest) => [`item:${String(r.params.id)}`] })
  item(@Param('id') id: string, @Query() query: Record<string, string>) {
    return { id, query, run: count(`item${id}`) };
  }

  @Get('me')
  @UseGuards(FakeAuthGuard)
  @CacheMemoize({ vary: (r: CacheRequest) => (r.user as { name?: string } | undefined)?.name })
  me() {
    return { run: count('me') };
  }

  @Get('me-undeclared')
  @UseGuards(FakeAuthGuard)
  @CacheMemoize()
  meUndeclared() {
    return { run: count('meUndeclared') };
  }

  @Get('public')
  @CacheMemoize({ public: true })
  publicInfo() {
    return { run: count('public') };
  }

  @Get('lang')
  @CacheMemoize({ vary: ['accept-language'] })
  lang() {
    return { run: count('lang') };
  }

  @Get('accepted')
  @HttpCode(202)
  @Header('X-Custom', 'yes')
  @CacheMemoize()
  accepted() {
    return { run: count('accepted') };
  }

  @Get('missing')
  @CacheMemoize()
  missing() {
    count('missing');
    throw new NotFoundException('nope');
  }

  @Get('raw')
  @CacheMemoize()
  raw(@Res() res: { send?: (b: string) => void; status?: (n: number) => { send: (b: string) => void } }) {
    const body = JSON.stringify({ run: count('raw') });
    if (res.send) res.send(body);
    else (res as unknown as { send: (b: string) => void }).send(body);
  }

  @Get('file')
  @CacheMemoize()
  file() {
    count('file');
    return new StreamableFile(Readable.from([Buffer.from('file-body')]));
  }

  @Get('cookie')
  @CacheMemoize()
  cookie(
    @Res({ passthrough: true })
    res: {
      setHeader?: (n: string, v: string) => void;
      header?: (n: string, v: string) => void;
    },
  ) {
    if (res.header) res.header('Set-Cookie', 'session=1');
    else res.setHeader!('Set-Cookie', 'session=1');
    return { run: count('cookie') };
  }

  @Get('private')
  @Header('Cache-Control', 'private, max-age=60')
  @CacheMemoize()
  privateData() {
    return { run: count('private') };
  }

  @Get('slow')
  @CacheMemoize()
  async slow() {
    count('slow');
    await sleep(20);
    return { ok: true };
  }

  @Get('stream')
  @CacheMemoize()
  stream(): Observable<{ n: number; run: number }> {
    const run = count('stream');
    return of({ n: 1, run }, { n: 2, run });
  }

  @Get('bad-tags')
  @CacheMemoize({ requestTags: () => [42 as unknown as string] })
  badTags() {
    return { run: count('badTags') };
  }

  @Post('items')
  @CacheMemoize()
  create() {
    return { run: count('create') };
  }
}

@Injectable()
class CatalogService {
  @CacheMemoize({ ttl: '1m', tags: (id: string) => [`product:${id}`] })
  async product(id: string): Promise<{ id: string; run: number }> {
    return { id, run: count(`product${id}`) };
  }
}

/** A route whose response comes from a memoized method: two entries, one shared tag. */
@Controller('products')
class ProductsController {
  constructor(private readonly catalog: CatalogService) {}

  @Get(':id')
  @CacheMemoize({ ttl: '1m', requestTags: (r: CacheRequest) => [`product:${String(r.params.id)}`] })
  async product(@Param('id') id: string) {
    return { ...(await this.catalog.product(id)), route: count(`productRoute${id}`) };
  }
}

/** Result-driven handlers: a ttl from the body, and stale-if-error. */
@Controller('feed')
class FeedController {
  static failing = false;

  @Get('quote')
  @CacheMemoize({ ttl: 40, staleIfError: '1m' })
  quote() {
    if (FeedController.failing) throw new ServiceUnavailableException('feed down');
    return { run: count('quote') };
  }

  @Get('stock/:n')
  @CacheMemoize({ ttl: (body: { n: number }) => (body.n === 0 ? 0 : '1m') })
  stock(@Param('n') n: string) {
    return { n: Number(n), run: count(`stock${n}`) };
  }
}

@Controller('plain')
class PlainController {
  @Get()
  plain() {
    return { run: count('plain') };
  }

  /** A health check (as @nestjs/terminus serves): under a global binding it must be opted out. */
  @Get('health')
  @CacheMemoize({ skip: () => true })
  health() {
    return { status: 'ok', run: count('health') };
  }
}

@Module({
  imports: [CacheMemoizeModule.forRoot({})],
  controllers: [ShopController, ProductsController, FeedController, PlainController],
  providers: [CatalogService, { provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor }],
})
class ShopModule {}

describe.each([
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
])('CacheMemoizeInterceptor over %s', (_name, adapter) => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  beforeAll(async () => {
    for (const k of Object.keys(runs)) delete runs[k];
    app = await NestFactory.create(ShopModule, adapter(), { logger: process.env.E2E_LOG ? ['error'] : false });
    await app.listen(0, '127.0.0.1');
    http = request(app.getHttpServer());
  });
  afterAll(() => app.close());

  it('caches a GET by route params and normalized query; X-Cache tells MISS then HIT', async () => {
    const first = await http.get('/items/1?b=2&a=1').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await http.get('/items/1?a=1&b=2').expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    await http.get('/items/2?a=1&b=2').expect(200);
    await http.get('/items/1?a=9').expect(200);
    expect(runs.item1).toBe(2);
    expect(runs.item2).toBe(1);
  });

  it('a handler failing within staleIfError serves the expired response with X-Cache: STALE', async () => {
    FeedController.failing = false;
    const first = await http.get('/feed/quote').expect(200);
    await new Promise((r) => setTimeout(r, 80)); // expired, no grace
    FeedController.failing = true;
    const stale = await http.get('/feed/quote').expect(200);
    expect(stale.body).toEqual(first.body);
    expect(stale.headers['x-cache']).toBe('STALE');
    FeedController.failing = false;
  });

  it('a ttl computed from the response body: 0 is not cached', async () => {
    await http.get('/feed/stock/0').expect(200);
    await http.get('/feed/stock/0').expect(200);
    await http.get('/feed/stock/3').expect(200);
    const hit = await http.get('/feed/stock/3').expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect([runs.stock0, runs.stock3]).toEqual([2, 1]);
  });

  it('hits carry a strong ETag computed when stored and an Age; a matching If-None-Match is answered 304', async () => {
    await http.get('/items/31').expect(200);
    const hit = await http.get('/items/31').expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    const etag = hit.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]{27}"$/); // strong: sha1, base64url
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(0);
    const again = await http.get('/items/31').expect(200);
    expect(again.headers.etag).toBe(etag); // the same entry, the same ETag
    const notModified = await http.get('/items/31').set('If-None-Match', etag).expect(304);
    expect(notModified.text ?? '').toBe('');
    await http.get('/items/31').set('If-None-Match', `W/${etag}, "other"`).expect(304);
    const changed = await http.get('/items/31').set('If-None-Match', '"something-else"').expect(200);
    expect(changed.body).toEqual(hit.body);
    await new Promise((r) => setTimeout(r, 1100));
    expect(Number((await http.get('/items/31').expect(200)).headers.age)).toBeGreaterThanOrEqual(1);
  });

  it('HEAD is answered from the GET entry; POST is never cached', async () => {
    await http.get('/items/7').expect(200);
    const head = await http.head('/items/7').expect(200);
    expect(head.headers['x-cache']).toBe('HIT');
    await http.post('/items').expect(201);
    await http.post('/items').expect(201);
    expect(runs.create).toBe(2);
  });

  it("Alice and Bob never see each other's /me; without declared vary, credentials bypass the cache", async () => {
    const alice1 = await http.get('/me').set('Authorization', 'Bearer alice').expect(200);
    const bob1 = await http.get('/me').set('Authorization', 'Bearer bob').expect(200);
    const alice2 = await http.get('/me').set('Authorization', 'Bearer alice').expect(200);
    const bob2 = await http.get('/me').set('Authorization', 'Bearer bob').expect(200);
    expect(alice2.body).toEqual(alice1.body);
    expect(bob2.body).toEqual(bob1.body);
    expect(alice1.body).not.toEqual(bob1.body);
    expect(runs.me).toBe(2);

    const a = await http.get('/me-undeclared').set('Authorization', 'Bearer alice').expect(200);
    const b = await http.get('/me-undeclared').set('Cookie', 'sid=bob').expect(200);
    expect(a.headers['x-cache']).toBe('BYPASS');
    expect(b.body.run).toBe(2);
    await http.get('/me-undeclared').expect(200);
    await http.get('/me-undeclared').expect(200);
    expect(runs.meUndeclared).toBe(3); // anonymous requests share one entry

    await http.get('/public').set('Authorization', 'Bearer alice').expect(200);
    const pub = await http.get('/public').set('Authorization', 'Bearer bob').expect(200);
    expect(pub.headers['x-cache']).toBe('HIT');
  });

  it('varies by declared headers', async () => {
    await http.get('/lang').set('Accept-Language', 'fr').expect(200);
    await http.get('/lang').set('Accept-Language', 'de').expect(200);
    await http.get('/lang').set('Accept-Language', 'fr').expect(200);
    expect(runs.lang).toBe(2);
  });

  it('keeps @HttpCode and @Header on a hit', async () => {
    await http.get('/accepted').expect(202);
    const hit = await http.get('/accepted').expect(202);
    expect(hit.headers['x-custom']).toBe('yes');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(runs.accepted).toBe(1);
  });

  it('never caches exceptions, @Res() handlers, files, Set-Cookie or private responses', async () => {
    await http.get('/missing').expect(404);
    await http.get('/missing').expect(404);
    expect(runs.missing).toBe(2);
    for (const path of ['/raw', '/file', '/cookie', '/private']) {
      await http.get(path).expect(200);
      await http.get(path).expect(200);
    }
    expect([runs.raw, runs.file, runs.cookie, runs.private]).toEqual([2, 2, 2, 2]);
    const file = await http.get('/file').expect(200);
    expect(Buffer.from(file.body ?? file.text).toString()).toContain('file-body');
  });

  it('runs the handler once for 200 concurrent cold requests', async () => {
    const responses = await Promise.all(Array.from({ length: 200 }, () => http.get('/slow')));
    expect(responses.every((r) => r.status === 200 && r.body.ok === true)).toBe(true);
    expect(runs.slow).toBe(1);
  });

  it('replays Observable handlers whole', async () => {
    const first = await http.get('/stream').expect(200);
    const second = await http.get('/stream').expect(200);
    expect(second.body).toEqual(first.body);
    expect(runs.stream).toBe(1);
  });

  it('bound globally, caches undecorated GET routes once (no double caching with the route binding)', async () => {
    await http.get('/plain').expect(200);
    const hit = await http.get('/plain').expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(runs.plain).toBe(1);
  });

  it('a route opted out with skip runs on every request under the global binding', async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await http.get('/plain/health').expect(200);
      expect([res.body, res.headers['x-cache']]).toEqual([{ status: 'ok', run: i }, 'BYPASS']);
    }
  });

  it('serves a request whose tags are not strings uncached instead of failing it', async () => {
    const res = await http.get('/bad-tags').expect(200);
    expect(res.headers['x-cache']).toBe('BYPASS');
    await http.get('/bad-tags').expect(200);
    expect(runs.badTags).toBe(2);
  });

  it("busting a method does not bust a route's response built from it; a shared tag busts both", async () => {
    const first = await http.get('/products/5').expect(200);
    expect(first.body).toEqual({ id: '5', run: 1, route: 1 });
    await cacheHandle(app.get(CatalogService), 'product').invalidate('5');
    const stillCached = await http.get('/products/5').expect(200);
    expect(stillCached.headers['x-cache']).toBe('HIT'); // the route's own entry
    expect(stillCached.body).toEqual(first.body);

    await app.get(InvalidationService).invalidateTags(['product:5']);
    const fresh = await http.get('/products/5').expect(200);
    expect(fresh.headers['x-cache']).toBe('MISS');
    expect(fresh.body).toEqual({ id: '5', run: 2, route: 2 });
  });

  it('busts handler responses by request tags', async () => {
    await http.get('/items/42').expect(200);
    await app.get(InvalidationService).invalidateTags(['item:42']);
    const after = await http.get('/items/42').expect(200);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(runs.item42).toBe(2);
  });
});
