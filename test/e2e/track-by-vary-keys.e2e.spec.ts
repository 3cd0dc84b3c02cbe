import 'reflect-metadata';
import { createHash } from 'node:crypto';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Headers,
  Injectable,
  type INestApplication,
  Ip,
  Module,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeInterceptor, CacheMemoizeModule, type CacheRequest } from '../../lib';

// Found by review: a string a trackBy override returned was taken as an encoded key part, so a
// client-chosen string could spell another request's key part or the '#' hash of a long one.
const bases: unknown[] = [];

/** As people port @nestjs/cache-manager's trackBy (a string): `q` when given, else ours. */
@Injectable()
class SearchCacheInterceptor extends CacheMemoizeInterceptor {
  protected override trackBy(...args: Parameters<CacheMemoizeInterceptor['trackBy']>): unknown {
    const base = super.trackBy(...args);
    bases.push(base);
    const q = args[1].query.q;
    return base === undefined || typeof q !== 'string' ? base : q;
  }
}

/** The README's per-tenant interceptor: the tenant header joins the key ours builds. */
@Injectable()
class TenantCacheInterceptor extends CacheMemoizeInterceptor {
  protected override trackBy(...args: Parameters<CacheMemoizeInterceptor['trackBy']>): unknown {
    const base = super.trackBy(...args);
    return base === undefined ? undefined : [base, args[1].headers['x-tenant-id'] ?? ''];
  }
}

/** As @nestjs/cache-manager's trackBy says "not cached": a falsy value (here per ?no=). */
@Injectable()
class FalsyCacheInterceptor extends CacheMemoizeInterceptor {
  protected override trackBy(...args: Parameters<CacheMemoizeInterceptor['trackBy']>): unknown {
    const no = args[1].query.no;
    return no === 'null' ? null : no === 'empty' ? '' : no === 'false' ? false : super.trackBy(...args);
  }
}

/** Sets `req.user = { sub }` from a header: the vary functions below read `id`, which it lacks. */
@Injectable()
class UserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: unknown }>();
    req.user = { sub: req.headers['x-user'] };
    return true;
  }
}

type UserReq = CacheRequest & { user: { sub: string; id?: string; avatar?: null } };
let runs = 0;

@Controller('s')
class SearchController {
  @Get('search')
  @UseInterceptors(SearchCacheInterceptor)
  search(@Query('q') q?: string) {
    return { results: `results for ${q ?? 'everything'}`, run: ++runs };
  }

  @Get('object')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => ({ id: (req as UserReq).user.id }) })
  object(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('array')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => ['tenant-1', (req as UserReq).user.id] })
  array(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('nested')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => ({ tenant: 't1', user: { id: (req as UserReq).user.id } }) })
  nested(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('template')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => `${(req as UserReq).user.id}` })
  template(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('built')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => 'user:' + (req as UserReq).user.id })
  built(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('builtpart')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => ['tenant-1', `u-${(req as UserReq).user.avatar}`] })
  builtpart(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  /** A row with a null column, as JSON: `null` there is a value, and `sub` tells users apart. */
  @Get('json')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => JSON.stringify({ ...(req as UserReq).user, avatar: null }) })
  json(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  /** Found by a new user: a guarded route varied by language only gave Ann's answer to Bob. */
  @Get('lang')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => req.headers['accept-language'] })
  lang(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  /** The same, read through the framework's request (review). */
  @Get('rawlang')
  @UseGuards(UserGuard)
  @CacheMemoize({
    vary: (req: CacheRequest) => (req.raw as { headers: Record<string, string> }).headers['accept-language'],
  })
  rawlang(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('langpublic')
  @UseGuards(UserGuard)
  @CacheMemoize({ public: true, vary: (req: CacheRequest) => req.headers['accept-language'] })
  langpublic() {
    return { me: 'anyone', run: ++runs };
  }

  @Get('languser')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => [req.headers['accept-language'], (req as UserReq).user.sub] })
  languser(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  /** Found by a new user: the first tenant's answer went to every tenant, silently. */
  @Get('tenant')
  @CacheMemoize()
  tenant(@Headers('X-Tenant-Id') tenant: string, @Ip() ip: string) {
    return { tenant, ip: typeof ip, run: ++runs };
  }

  /** Keyed by the tenant in a trackBy override (the README's TenantCacheInterceptor): no warning. */
  @Get('tenanttracked')
  @UseInterceptors(TenantCacheInterceptor)
  tenanttracked(@Headers('x-tenant-id') tenant: string) {
    return { tenant, run: ++runs };
  }

  @Get('tenantvaried')
  @CacheMemoize({ vary: ['x-tenant-id'] })
  tenantvaried(@Headers('x-tenant-id') tenant: string, @Headers('authorization') auth?: string) {
    return { tenant, auth: auth !== undefined, run: ++runs };
  }

  @Post('tenantpost')
  @CacheMemoize()
  tenantpost(@Headers('x-tenant-id') tenant: string) {
    return { tenant, run: ++runs };
  }

  /** `/me` without vary: never shared, and (found by a new user) it now says why once. */
  @Get('me')
  @UseGuards(UserGuard)
  @CacheMemoize()
  me(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  /** Never cached: neither warning belongs here (found by review). */
  @Post('mepost')
  @UseGuards(UserGuard)
  @CacheMemoize()
  mepost(@Req() req: UserReq, @Headers('x-tenant-id') tenant?: string) {
    return { me: req.user.sub, tenant, run: ++runs };
  }

  @Get('ownres')
  @UseGuards(UserGuard)
  @CacheMemoize()
  ownres(@Res() res: { send(body: unknown): void }, @Headers('x-tenant-id') tenant?: string) {
    res.send({ tenant, run: ++runs });
  }

  @Get('falsy')
  @UseGuards(UserGuard)
  @UseInterceptors(FalsyCacheInterceptor)
  @CacheMemoize({ public: true })
  falsy(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('row')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => ({ ...(req as UserReq).user, avatar: null }) })
  row(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  /** Two reasons to serve uncached: a missing identity, or a vary that throws (its message names the query). */
  @Get('reasons')
  @UseGuards(UserGuard)
  @CacheMemoize({
    vary: (req: CacheRequest) => {
      const bad = (req as UserReq & { query: { bad?: string } }).query.bad;
      if (bad !== undefined) throw new Error(`no tenant for ${bad}`);
      return { id: (req as UserReq).user.id };
    },
  })
  reasons(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }

  @Get('whole')
  @UseGuards(UserGuard)
  @CacheMemoize({ vary: (req: CacheRequest) => ({ tenant: 'tenant-1', sub: (req as UserReq).user.sub }) })
  whole(@Req() req: UserReq) {
    return { me: req.user.sub, run: ++runs };
  }
}

@Module({ imports: [CacheMemoizeModule.forRoot({ ttl: '1m' })], controllers: [SearchController] })
class AppModule {}

describe.each([
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const)('keys built by trackBy overrides and vary functions, over %s', (_name, make) => {
  let app: INestApplication;
  const warnings: string[] = [];
  beforeAll(async () => {
    const quiet = () => undefined;
    const logger = {
      log: quiet,
      error: quiet,
      debug: quiet,
      verbose: quiet,
      warn: (m: unknown) => warnings.push(String(m)),
    };
    app = await NestFactory.create(AppModule, make(), { logger });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const get = (path: string, user?: string, language?: string) => {
    const r = request(app.getHttpServer()).get(path);
    if (language !== undefined) void r.set('accept-language', language);
    return user === undefined ? r : r.set('x-user', user);
  };

  it("a returned string shaped like a hashed key part ('#' + sha256) is not that key part", async () => {
    const victim = 'hello world'; // a space: its key part is hashed
    const forged = '#' + createHash('sha256').update(JSON.stringify(victim)).digest('base64url');
    const forgedRaw = '#' + createHash('sha256').update(victim).digest('base64url');
    for (const q of [forged, forgedRaw]) expect((await get(`/s/search?q=${encodeURIComponent(q)}`)).status).toBe(200);
    const answer = await get(`/s/search?q=${encodeURIComponent(victim)}`);
    expect([answer.headers['x-cache'], answer.body.results]).toEqual(['MISS', `results for ${victim}`]);
    expect((await get(`/s/search?q=${encodeURIComponent(victim)}`)).headers['x-cache']).toBe('HIT');
  });

  it('a returned string equal to the key part ours built for another request is not that request', async () => {
    bases.length = 0;
    const first = await get('/s/search');
    expect(first.body.results).toBe('results for everything');
    const ours = bases[0];
    expect(typeof ours).toBe('string');
    const forged = await get(`/s/search?q=${encodeURIComponent(ours as string)}`);
    expect([forged.headers['x-cache'], forged.body.results]).toEqual(['MISS', `results for ${ours as string}`]);
    // Nor the other way round: the request ours keyed still gets its own entry.
    const again = await get('/s/search');
    expect([again.headers['x-cache'], again.body]).toEqual(['HIT', first.body]);
  });

  it.each(['object', 'array', 'nested', 'template', 'built', 'builtpart'])(
    'a vary %s with a missing part is no identity: each user gets their own response, uncached',
    async (route) => {
      const alice = await get(`/s/${route}`, 'alice');
      const bob = await get(`/s/${route}`, 'bob');
      expect([alice.body.me, bob.body.me]).toEqual(['alice', 'bob']);
      expect([alice.headers['x-cache'], bob.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
      expect((await get(`/s/${route}`, 'alice')).body.run).toBeGreaterThan(alice.body.run);
      // Said once per handler, naming it: an app that lost caching this way can tell.
      const said = warnings.filter((w) => w.startsWith(`SearchController.${route} is served uncached: its vary`));
      expect(said).toHaveLength(1);
    },
  );

  it.each(['lang', 'rawlang'])(
    'a vary function that never reads who the request is (a language only, %s) is not an identity: each user gets their own response',
    async (route) => {
      const ann = await get(`/s/${route}`, 'ann', 'en');
      const bob = await get(`/s/${route}`, 'bob', 'en');
      expect([ann.body.me, bob.body.me]).toEqual(['ann', 'bob']);
      expect([ann.headers['x-cache'], bob.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
      expect(warnings.filter((w) => w.startsWith(`SearchController.${route} is served uncached: `))).toEqual([
        expect.stringContaining(
          'its vary function read neither req.user (or a user, session, token... field of the request itself) nor, by name, every credential header',
        ),
      ]);
    },
  );

  it('the same vary declared public is shared on purpose; read with the user, it is per user', async () => {
    const shared = [await get('/s/langpublic', 'ann', 'en'), await get('/s/langpublic', 'bob', 'en')];
    expect(shared.map((r) => r.headers['x-cache'])).toEqual(['MISS', 'HIT']);
    const own = [await get('/s/languser', 'ann', 'en'), await get('/s/languser', 'bob', 'en')];
    expect(own.map((r) => [r.headers['x-cache'], r.body.me])).toEqual([
      ['MISS', 'ann'],
      ['MISS', 'bob'],
    ]);
    expect((await get('/s/languser', 'ann', 'en')).headers['x-cache']).toBe('HIT');
  });

  it('a cached route reading a header its key leaves out (or the IP) is named in a warning, once; one keyed by it is not', async () => {
    const said = (route: string) => warnings.filter((w) => w.startsWith(`SearchController.${route} reads `));
    for (let i = 0; i < 2; i++) {
      await get('/s/tenant').set('x-tenant-id', 'acme');
      await get('/s/tenantvaried').set('x-tenant-id', 'acme');
      await get('/s/tenanttracked').set('x-tenant-id', i === 0 ? 'acme' : 'globex');
      await request(app.getHttpServer()).post('/s/tenantpost').set('x-tenant-id', 'acme');
    }
    expect(said('tenant')).toEqual([
      "SearchController.tenant reads header 'x-tenant-id' (@Headers('x-tenant-id')), which its cache key does not " +
        'include: every caller gets the answer computed for the first, whatever theirs says. To key by it, add it to ' +
        "vary (vary: ['x-tenant-id']); ignore this if the response does not depend on it.",
      expect.stringContaining("SearchController.tenant reads the client's IP (@Ip())"),
    ]);
    expect([...said('tenantvaried'), ...said('tenantpost'), ...said('tenanttracked')]).toEqual([]);
    // Routes never cached warn about nothing, identified or not.
    for (let i = 0; i < 2; i++) {
      await request(app.getHttpServer()).post('/s/mepost').set('x-user', 'ann').set('x-tenant-id', 'acme');
      await get('/s/ownres', 'ann').set('x-tenant-id', 'acme');
    }
    expect(warnings.filter((w) => /SearchController\.(mepost|ownres) /.test(w))).toEqual([]);
  });

  it('an identified request on a route whose vary does not say who it is runs uncached, and the route says why, once', async () => {
    const answers = [await get('/s/me', 'ann'), await get('/s/me', 'bob'), await get('/s/me', 'ann')];
    expect(answers.map((r) => [r.headers['x-cache'], r.body.me])).toEqual([
      ['BYPASS', 'ann'],
      ['BYPASS', 'bob'],
      ['BYPASS', 'ann'],
    ]);
    expect(warnings.filter((w) => w.startsWith('SearchController.me is served uncached: '))).toEqual([
      expect.stringContaining('a request identified by a credential header or req.user is never shared'),
    ]);
  });

  it('a handler served uncached for a second reason says so too, once per reason, at most five', async () => {
    const said = () => warnings.filter((w) => w.startsWith('SearchController.reasons is served uncached: '));
    for (let i = 0; i < 2; i++) expect((await get('/s/reasons', 'alice')).headers['x-cache']).toBe('BYPASS');
    expect((await get('/s/reasons?bad=a', 'alice')).headers['x-cache']).toBe('BYPASS');
    expect((await get('/s/reasons?bad=a', 'bob')).headers['x-cache']).toBe('BYPASS');
    expect(said()).toEqual([
      expect.stringContaining('served uncached: its vary function named no one'),
      'SearchController.reasons is served uncached: no tenant for a',
    ]);
    // A reason carrying request data cannot flood the log: five reasons, the fifth says so.
    for (const bad of ['b', 'c', 'd', 'e', 'f']) await get(`/s/reasons?bad=${bad}`, 'alice');
    expect(said()).toHaveLength(5);
    expect(said()[4]).toBe(
      'SearchController.reasons is served uncached: no tenant for d (further reasons for this handler are not logged)',
    );
  });

  it.each(['null', 'empty', 'false'])(
    'a trackBy override returning a falsy value (%s) leaves the request uncached, as @nestjs/cache-manager does',
    async (no) => {
      const alice = await get(`/s/falsy?no=${no}`, 'alice');
      const bob = await get(`/s/falsy?no=${no}`, 'bob');
      expect([alice.body.me, bob.body.me]).toEqual(['alice', 'bob']);
      expect([alice.headers['x-cache'], bob.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
    },
  );

  it.each(['whole', 'row', 'json'])(
    'a vary object with its identity present (%s) is cached per user',
    async (route) => {
      const alice = await get(`/s/${route}`, 'alice');
      const bob = await get(`/s/${route}`, 'bob');
      const again = await get(`/s/${route}`, 'alice');
      expect([alice.body.me, bob.body.me, again.body]).toEqual(['alice', 'bob', alice.body]);
      expect([alice.headers['x-cache'], bob.headers['x-cache'], again.headers['x-cache']]).toEqual([
        'MISS',
        'MISS',
        'HIT',
      ]);
    },
  );
});
