/*
 * withCacheMode set around a request (a middleware's: an editor's live preview, a "refresh" admin
 * header) holds for the cached route too, as for every memoized call inside it: 'bypass' neither
 * reads nor writes the route's entry, 'refresh' recomputes and replaces it. Found by review: the
 * interceptor ignored the mode, so a bypass request's response (built from live data) was stored
 * and served to the next visitor, and a refresh request got the old entry.
 */
import 'reflect-metadata';
import {
  type CallHandler,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  Module,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeInterceptor,
  CacheMemoizeModule,
  currentCacheMode,
  memoryStore,
  redisStore,
  withCacheMode,
  type CacheRequest,
} from '../../lib';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
let version = 1;
let runs = 0;

@Injectable()
class ArticleService {
  @CacheMemoize({ ttl: '1m' })
  async article(): Promise<{ v: number; draft: boolean }> {
    return { v: version, draft: currentCacheMode() === 'bypass' }; // what a preview request sees: the live row
  }
}

@Controller()
class ArticleController {
  constructor(private readonly articles: ArticleService) {}
  @Get('article')
  @CacheMemoize({ ttl: '1m' })
  get() {
    runs++;
    return this.articles.article();
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])('withCacheMode set by a middleware, on a cached route (%s)', (_name, makeStore) => {
  let app: INestApplication;
  beforeEach(async () => {
    version = 1;
    runs = 0;
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix: uniquePrefix('cmroute') })],
      controllers: [ArticleController],
      providers: [ArticleService],
    })
    class M {}
    app = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
    app.use((req: { headers: Record<string, string> }, _res: unknown, next: () => void) => {
      const mode = req.headers['x-cache-mode'];
      if (mode === 'bypass' || mode === 'refresh') return withCacheMode(mode, () => next());
      next();
    });
    await app.listen(0, '127.0.0.1');
  });
  afterEach(() => app.close());

  it("'bypass' neither writes nor reads the route's entry", async () => {
    const http = request(app.getHttpServer());
    const preview = await http.get('/article').set('x-cache-mode', 'bypass');
    expect({ body: preview.body, xCache: preview.headers['x-cache'] }).toEqual({
      body: { v: 1, draft: true },
      xCache: 'BYPASS',
    });
    await settle(app);
    const visitor = await http.get('/article');
    expect(visitor.body).toEqual({ v: 1, draft: false });
    const again = await http.get('/article').set('x-cache-mode', 'bypass');
    expect({ body: again.body, runs }).toEqual({ body: { v: 1, draft: true }, runs: 3 });
  });

  it("'refresh' recomputes the route's response and replaces its entry", async () => {
    const http = request(app.getHttpServer());
    await http.get('/article');
    await settle(app);
    version = 2;
    const refreshed = await http.get('/article').set('x-cache-mode', 'refresh');
    expect({ body: refreshed.body, xCache: refreshed.headers['x-cache'] }).toEqual({
      body: { v: 2, draft: false },
      xCache: 'MISS',
    });
    await settle(app);
    const visitor = await http.get('/article');
    expect({ body: visitor.body, xCache: visitor.headers['x-cache'], runs }).toEqual({
      body: { v: 2, draft: false },
      xCache: 'HIT',
      runs: 2,
    });
  });
});

/** As the README shows it: a guard sets req.user, so the mode is decided in an interceptor, after guards. */
@Injectable()
class UserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: { role: string } }>();
    if (req.headers['x-role'] !== undefined) req.user = { role: req.headers['x-role'] };
    return true;
  }
}

@Injectable()
class PreviewInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler) {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: { role: string } }>();
    if (req.user?.role === 'editor' && req.headers['x-preview'] === '1')
      return withCacheMode('bypass', () => next.handle());
    return next.handle();
  }
}

describe.each([
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
])('withCacheMode set by an interceptor after guards (%s)', (_name, makeAdapter) => {
  let app: INestApplication;
  beforeEach(async () => {
    version = 1;
    runs = 0;
    @Module({
      imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('cmguard') })],
      controllers: [ArticleController],
      providers: [ArticleService],
    })
    class M {}
    app = await NestFactory.create(M, makeAdapter(), { logger: false });
    app.useGlobalGuards(new UserGuard());
    app.useGlobalInterceptors(new PreviewInterceptor());
    await app.listen(0, '127.0.0.1');
  });
  afterEach(() => app.close());

  it("an editor's preview reads live data and stores nothing; visitors and other editors are unaffected", async () => {
    const http = request(app.getHttpServer());
    expect((await http.get('/article')).body).toEqual({ v: 1, draft: false });
    await settle(app);
    version = 2;
    const preview = await http.get('/article').set('x-role', 'editor').set('x-preview', '1');
    // Identified (req.user): the route is private, so BYPASS; the memoized call inside saw the mode.
    expect([preview.headers['x-cache'], preview.body]).toEqual(['BYPASS', { v: 2, draft: true }]);
    const editor = await http.get('/article').set('x-role', 'editor');
    expect(editor.body).toEqual({ v: 1, draft: false }); // no preview header: the cached row
    await settle(app);
    const visitor = await http.get('/article');
    expect([visitor.headers['x-cache'], visitor.body, runs]).toEqual(['HIT', { v: 1, draft: false }, 3]);
  });
});

@Controller()
class EditorController {
  constructor(private readonly articles: ArticleService) {}
  /** Cached by the global binding (the decorator's options apply); each role has its own entry. */
  @Get('desk')
  @CacheMemoize({ vary: (req: CacheRequest) => (req.user as { role: string }).role })
  desk() {
    runs++;
    return this.articles.article();
  }
}

describe.each([
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
])('withCacheMode set by an interceptor provided before ours, both APP_INTERCEPTOR (%s)', (_name, makeAdapter) => {
  let app: INestApplication;
  beforeEach(async () => {
    version = 1;
    runs = 0;
    @Module({
      imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('cmglobal') })],
      controllers: [EditorController],
      providers: [
        ArticleService,
        { provide: APP_INTERCEPTOR, useClass: PreviewInterceptor }, // first: it runs before ours
        { provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor },
      ],
    })
    class M {}
    app = await NestFactory.create(M, makeAdapter(), { logger: false });
    app.useGlobalGuards(new UserGuard());
    await app.listen(0, '127.0.0.1');
  });
  afterEach(() => app.close());

  it("an editor's preview bypasses the editors' cached entry and reads live data", async () => {
    const http = request(app.getHttpServer());
    const editor = () => http.get('/desk').set('x-role', 'editor');
    expect((await editor()).body).toEqual({ v: 1, draft: false });
    await settle(app);
    version = 2;
    const preview = await editor().set('x-preview', '1');
    expect([preview.headers['x-cache'], preview.body]).toEqual(['BYPASS', { v: 2, draft: true }]);
    const after = await editor();
    expect([after.headers['x-cache'], after.body, runs]).toEqual(['HIT', { v: 1, draft: false }, 2]);
  });
});
