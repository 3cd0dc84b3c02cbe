/*
 * Review of non-HTTP transports and unusual HTTP shapes: three ways one caller got a response
 * computed for another.
 * 1. A vary function that read the payload (`data`), `req.raw.subdomains`, `req.context.getType()`,
 *    or a non-credential header through gRPC's `getMap()`, counted as reading who the request is:
 *    any field but a few counted. Bob got the hero only Alice may read, on real gRPC.
 * 2. A host-routed controller under `varyByHost: false` was keyed by its host pattern, so
 *    globex.example.com got acme's page.
 * 3. A user set by an interceptor inside ours made the request look anonymous: its response was
 *    stored and served to the next caller.
 */
import 'reflect-metadata';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  HostParam,
  Injectable,
  type INestApplication,
  type INestMicroservice,
  Logger,
  Module,
  type NestInterceptor,
  Req,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { GrpcMethod, RpcException } from '@nestjs/microservices';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeInterceptor, CacheMemoizeModule, type CacheRequest } from '../../lib';
import { grpcHeroes, type HeroesClient } from '../support/rpc-apps';

const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);
const OWNER: Record<number, string> = { 1: 'Bearer alice', 2: 'Bearer bob' };
type Metadata = grpc.Metadata;

@Controller()
class HeroesController {
  /** Reads the payload only: in the key already, it says nothing of the caller. */
  @GrpcMethod('HeroService', 'FindOne')
  @CacheMemoize({ ttl: '1m', vary: (req) => (req.data as { id: number }).id })
  findOne(data: { id: number }, metadata: Metadata) {
    const caller = String(metadata.get('authorization')[0] ?? '');
    count(`data${data.id}`);
    if (OWNER[data.id] !== caller) throw new RpcException({ code: grpc.status.PERMISSION_DENIED, message: 'no' });
    return { id: data.id, name: `hero of ${caller}`, caller, run: runs[`data${data.id}`] };
  }

  /** Reads the caller through the transport's own accessor: one entry per caller. */
  @GrpcMethod('HeroService', 'FindPublic')
  @CacheMemoize({ ttl: '1m', vary: (req) => (req.raw as Metadata).getMap().authorization })
  findByCaller(data: { id: number }, metadata: Metadata) {
    const caller = String(metadata.get('authorization')[0] ?? '');
    return { id: data.id, name: `hero ${data.id}`, caller, run: count(`caller${data.id}`) };
  }
}

describe('gRPC: what a vary function reads of an identified call', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [HeroesController] })
  class GrpcModule {}
  let service: INestMicroservice;
  let client: HeroesClient;
  beforeAll(async () => {
    ({ service, client } = await grpcHeroes(GrpcModule));
  });
  afterAll(async () => {
    client.close();
    await service.close();
  });
  const call = (method: string, id: number, auth: string) =>
    new Promise<{ caller?: string; run?: number; denied?: boolean }>((resolve, reject) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', auth);
      client[method]({ id }, metadata, (error: grpc.ServiceError | null, value: { caller: string; run: number }) =>
        error?.code === grpc.status.PERMISSION_DENIED
          ? resolve({ denied: true })
          : error
            ? reject(error)
            : resolve(value),
      );
    });

  it('a vary of the payload alone does not make the call shareable: Bob never gets the hero only Alice may read', async () => {
    expect(await call('FindOne', 1, 'Bearer bob')).toEqual({ denied: true });
    expect((await call('FindOne', 1, 'Bearer alice')).caller).toBe('Bearer alice');
    expect(await call('FindOne', 1, 'Bearer bob')).toEqual({ denied: true });
    expect(runs.data1).toBe(3);
  });

  it("a vary reading the credential through the metadata's getMap() keys each caller", async () => {
    expect(await call('FindPublic', 5, 'Bearer alice')).toMatchObject({ caller: 'Bearer alice', run: 1 });
    expect(await call('FindPublic', 5, 'Bearer alice')).toMatchObject({ caller: 'Bearer alice', run: 1 });
    expect(await call('FindPublic', 5, 'Bearer bob')).toMatchObject({ caller: 'Bearer bob', run: 2 });
  });
});

/** Sets `req.user` from a session header, as an interceptor (inside the global cache interceptor). */
@Injectable()
class SessionInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler) {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: unknown }>();
    if (req.headers['x-session'] !== undefined) req.user = { id: req.headers['x-session'] };
    return next.handle();
  }
}

type Raw = { subdomains?: string[]; user?: { id: string } };

/** A user from the Bearer token, and cookies parsed as cookie-parser leaves them. */
@Injectable()
class BearerAndCookiesGuard {
  canActivate(context: ExecutionContext) {
    const req = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string>; user?: unknown; cookies?: unknown }>();
    req.user = { id: req.headers.authorization };
    req.cookies = Object.fromEntries((req.headers.cookie ?? '').split('; ').map((c) => c.split('=')));
    return true;
  }
}

/** As Nest's AuthGuard on an optional route: what passport gives on failure, `false`. */
@Injectable()
class OptionalAuthGuard {
  canActivate(context: ExecutionContext) {
    context.switchToHttp().getRequest<{ user?: unknown }>().user = false;
    return true;
  }
}

@Controller()
class CallerController {
  @Get('subdomains')
  @CacheMemoize({ vary: (req) => (req.raw as Raw).subdomains?.join('.') ?? 'fastify' })
  subdomains(@Req() req: { headers: Record<string, string> }) {
    return { for: req.headers.authorization, run: count('subdomains') };
  }

  @Get('type')
  @CacheMemoize({ vary: (req: CacheRequest) => req.context.getType() })
  type(@Req() req: { headers: Record<string, string> }) {
    return { for: req.headers.authorization, run: count('type') };
  }

  /** Review of 04c13bb: a `user` field in the query was credited as who the request is. */
  @Get('orders')
  @CacheMemoize({ vary: (req) => (req.raw as { query: { user?: string } }).query.user ?? '-' })
  orders(@Req() req: { headers: Record<string, string>; query: { user?: string } }) {
    return { orders: `of ${req.query.user}`, for: req.headers.authorization, run: count('orders') };
  }

  /** A case-insensitive header lookup walks every header, the credential included, and returns a tenant. */
  @Get('tenant-page')
  @CacheMemoize({
    vary: (req) => Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'x-tenant')?.[1] ?? '-',
  })
  tenantPage(@Req() req: { headers: Record<string, string> }) {
    return { for: req.headers.authorization, run: count('tenant-page') };
  }

  /** Keyed by the app's shared key while the user's token rides beside it. */
  @Get('by-key')
  @CacheMemoize({ vary: (req) => req.headers['x-api-key'] })
  byKey(@Req() req: { headers: Record<string, string> }) {
    return { for: req.headers.authorization, run: count('by-key') };
  }

  /** Second review: a locale cookie was credited as who the request is; Bob got Alice's orders. */
  @Get('cookie-locale')
  @UseGuards(BearerAndCookiesGuard)
  @CacheMemoize({ vary: (req) => (req.raw as { cookies: { locale?: string } }).cookies.locale ?? '-' })
  cookieLocale(@Req() req: { headers: Record<string, string> }) {
    return { for: req.headers.authorization, run: count('cookie-locale') };
  }

  /** An optional-auth guard's `req.user = false` (passport's failure value): anonymous, so cached. */
  @Get('optional')
  @UseGuards(OptionalAuthGuard)
  optional(@Req() req: { user?: unknown }) {
    return { user: req.user, run: count('optional') };
  }

  @Get('intercepted')
  @UseInterceptors(SessionInterceptor)
  intercepted(@Req() req: { user?: { id: string } }) {
    return { me: req.user?.id ?? null };
  }
}

@Controller({ path: 'dash', host: ':tenant.example.com' })
class TenantController {
  @Get()
  @CacheMemoize({ ttl: '1m' })
  dash(@HostParam('tenant') tenant: string) {
    return { tenant, secret: `${tenant}-revenue` };
  }
}

describe.each([
  ['Express', () => new ExpressAdapter()],
  ['Fastify', () => new FastifyAdapter()],
])('HTTP on %s: callers apart', (_name, adapter) => {
  let app: INestApplication;
  const warnings: string[] = [];
  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    @Module({
      imports: [CacheMemoizeModule.forRoot({ varyByHost: false })],
      controllers: [CallerController, TenantController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor }],
    })
    class HttpModule {}
    app = await NestFactory.create(HttpModule, adapter(), { logger: false });
    await app.init();
    if (_name === 'Fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<void> }).ready();
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await app.close();
  });
  const get = (path: string, headers: Record<string, string>) => {
    const r = request(app.getHttpServer()).get(path);
    for (const [k, v] of Object.entries(headers)) r.set(k, v);
    return r;
  };

  it.each(['subdomains', 'type'])(
    'a vary of %s (not who the request is): an identified request is served uncached, each its own',
    async (path) => {
      const before = runs[path] ?? 0;
      const headers = (who: string) => ({ authorization: `Bearer ${who}`, host: 'acme.example.com' });
      expect((await get(`/${path}`, headers('alice'))).body.for).toBe('Bearer alice');
      const bob = await get(`/${path}`, headers('bob'));
      expect(bob.body.for).toBe('Bearer bob');
      expect(bob.headers['x-cache']).toBe('BYPASS');
      expect(runs[path] - before).toBe(2);
    },
  );

  it.each([
    ['orders?user=alice', 'a query parameter named user'],
    ['tenant-page', 'a walk of every header'],
    ['by-key', "the app's shared key beside the user's token"],
    ['cookie-locale', 'a locale cookie'],
  ])('/%s (%s): Bob never gets what was computed for Alice', async (path, _what) => {
    const name = path.split('?')[0];
    const before = runs[name] ?? 0;
    const headers = (who: string) => ({
      authorization: `Bearer ${who}`,
      'x-api-key': 'pk_app',
      'x-tenant': 'acme',
      cookie: 'locale=de',
    });
    expect((await get(`/${path}`, headers('alice'))).body.for).toBe('Bearer alice');
    const bob = await get(`/${path}`, headers('bob'));
    expect(bob.body.for).toBe('Bearer bob');
    expect(bob.headers['x-cache']).toBe('BYPASS');
    expect(runs[name] - before).toBe(2);
  });

  it('req.user = false (optional auth, no user) is anonymous: cached', async () => {
    const before = runs.optional ?? 0;
    await get('/optional', {});
    expect((await get('/optional', {})).headers['x-cache']).toBe('HIT');
    expect(runs.optional - before).toBe(1);
  });

  it('a host-routed controller is keyed by host although varyByHost is false', async () => {
    const acme = await get('/dash', { host: 'acme.example.com' });
    expect(acme.body.tenant).toBe('acme');
    const globex = await get('/dash', { host: 'globex.example.com' });
    expect(globex.body).toEqual({ tenant: 'globex', secret: 'globex-revenue' });
    expect((await get('/dash', { host: 'acme.example.com' })).headers['x-cache']).toBe('HIT');
  });

  it('a user set by an interceptor inside ours: the response is not stored, and the route is named', async () => {
    expect((await get('/intercepted', { 'x-session': 'alice' })).body).toEqual({ me: 'alice' });
    const bob = await get('/intercepted', { 'x-session': 'bob' });
    expect(bob.body).toEqual({ me: 'bob' });
    expect(bob.headers['x-cache']).not.toBe('HIT');
    expect(warnings.filter((w) => w.includes('CallerController.intercepted') && w.includes('set after'))).toHaveLength(
      1,
    );
  });
});
