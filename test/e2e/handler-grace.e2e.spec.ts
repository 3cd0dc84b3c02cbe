/*
 * grace on an HTTP handler. The request that finds the response stale runs the handler itself (a
 * background refresh could not run this request's handler once its response is sent): when that
 * handler fails within grace, the stale response is served and the key backs off, as a failed
 * background refresh does for methods. Requests arriving meanwhile get the stale response at once.
 */
import 'reflect-metadata';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  type INestApplication,
  Module,
  type NestInterceptor,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { concatMap } from 'rxjs';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeInterceptor,
  CacheMemoizeModule,
  memoryStore,
  redisStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let run = 0;
let gate: Promise<void> | undefined;
let failing = false;
let held: Promise<void> | undefined;

/** Outside ours (registered first): holds each response while `held` is set, as a slow outer interceptor. */
@Injectable()
class HoldingInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(concatMap(async (value: unknown) => (await held, value)));
  }
}
let deleted = false;

@Controller()
class DashboardController {
  @Get('grace')
  @CacheMemoize({ ttl: 150, grace: '1m', timeout: { soft: '50ms' } })
  async grace() {
    const n = ++run;
    if (gate !== undefined) await gate;
    return { run: n };
  }

  @Get('softwait')
  @CacheMemoize({ ttl: 150, grace: '1m', timeout: { soft: '20s' } })
  async softwait() {
    const n = ++run;
    if (gate !== undefined) await gate;
    return { run: n };
  }

  @Get('ahead')
  @CacheMemoize({ ttl: '1m', refreshAhead: '59s' })
  async ahead() {
    const n = ++run;
    if (gate !== undefined) await gate;
    return { run: n };
  }

  @Get('gone')
  @CacheMemoize({ ttl: 150, grace: '1m' })
  async gone() {
    const n = ++run;
    if (deleted) throw new NotFoundException('deleted');
    return { run: n };
  }

  @Get('flaky')
  @CacheMemoize({ ttl: 150, grace: '1m' })
  async flaky() {
    const n = ++run;
    if (failing) throw new ServiceUnavailableException('upstream down');
    return { run: n };
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])('grace on an HTTP handler (%s)', (_name, makeStore) => {
  let app: INestApplication;
  beforeAll(async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix: uniquePrefix('hgr') })],
      controllers: [DashboardController],
      providers: [
        { provide: APP_INTERCEPTOR, useClass: HoldingInterceptor },
        { provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor },
      ],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  afterEach(() => {
    gate = undefined;
    held = undefined;
    failing = false;
    deleted = false;
  });

  it('within grace, a refresh that fails keeps the stale response served (the error does not reach the client)', async () => {
    const http = request(app.getHttpServer());
    const first = await http.get('/flaky').expect(200);
    await sleep(300); // stale
    failing = true;
    const base = run;
    const statuses: Array<[number, unknown]> = [];
    for (let i = 0; i < 3; i++) {
      const res = await http.get('/flaky');
      statuses.push([res.status, res.body]);
    }
    expect(statuses).toEqual([
      [200, first.body],
      [200, first.body],
      [200, first.body],
    ]);
    expect(run).toBe(base + 1); // the others come within the back-off (1 s): stale at once
  });

  it('within grace, a refresh answering 4xx (the resource is gone) reaches the client, every time', async () => {
    const http = request(app.getHttpServer());
    await http.get('/gone').expect(200);
    await sleep(300); // stale
    deleted = true;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await http.get('/gone')).status);
    expect(statuses).toEqual([404, 404, 404]);
  });

  it('while one request refreshes a stale response, another gets the stale response at once', async () => {
    const http = request(app.getHttpServer());
    const first = await http.get('/grace').expect(200);
    const base = run;
    await sleep(300); // stale: ttl 150 ms, grace 1 m
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const refreshing = http.get('/grace').then((r) => r); // runs the handler, which waits
    await until(() => run > base, 5_000, 'the refresh to start');
    let meanwhile: { body: unknown; headers: Record<string, string> };
    try {
      meanwhile = await http.get('/grace').expect(200);
    } finally {
      open();
    }
    // Labelled as served: the stale response (it was labelled MISS, found by a new user's trial).
    expect({ body: meanwhile.body, cache: meanwhile.headers['x-cache'] }).toEqual({ body: first.body, cache: 'STALE' });
    const refreshed = await refreshing;
    expect({ body: refreshed.body, cache: refreshed.headers['x-cache'] }).toEqual({
      body: { run: base + 1 },
      cache: 'MISS',
    });
    expect(run).toBe(base + 1);
  });

  it('one that waits within timeout.soft and gets the refreshed response is labelled MISS (review)', async () => {
    const http = request(app.getHttpServer());
    await http.get('/softwait').expect(200);
    const base = run;
    await sleep(300); // stale: ttl 150 ms, grace 1 m
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const refreshing = http.get('/softwait').then((r) => r);
    await until(() => run > base, 5_000, 'the refresh to start');
    const stale = () => app.get(CacheMemoizeEngine).stats().byNamespace['DashboardController.softwait']?.stale ?? 0;
    const staleBefore = stale();
    const waiting = http.get('/softwait').then((r) => r); // read the stale entry, waits within timeout.soft
    await until(() => stale() !== staleBefore, 5_000, 'the stale read');
    open();
    const [refreshed, waited] = await Promise.all([refreshing, waiting]);
    expect([refreshed, waited].map((r) => [r.body, r.headers['x-cache']])).toEqual([
      [{ run: base + 1 }, 'MISS'],
      [{ run: base + 1 }, 'MISS'],
    ]);
  });

  it('one that comes while another refreshes ahead gets the fresh response at once: HIT (review)', async () => {
    const http = request(app.getHttpServer());
    const first = await http.get('/ahead').expect(200);
    const base = run;
    await sleep(1_500); // past ttl - refreshAhead (1 s after the write, which lands after the response)
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const refreshing = http.get('/ahead').then((r) => r);
    await until(() => run > base, 5_000, 'the refresh to start');
    let meanwhile: { body: unknown; headers: Record<string, string> };
    try {
      meanwhile = await http.get('/ahead').expect(200);
    } finally {
      open();
    }
    const refreshed = await refreshing;
    expect([meanwhile, refreshed].map((r) => [r.body, r.headers['x-cache']])).toEqual([
      [first.body, 'HIT'],
      [{ run: base + 1 }, 'MISS'],
    ]);
  });

  it('one that joins after the refreshing handler returned, its response held outside ours, is MISS (review)', async () => {
    const http = request(app.getHttpServer());
    await http.get('/softwait').expect(200);
    const base = run;
    await sleep(300); // stale
    let release!: () => void;
    held = new Promise<void>((r) => (release = r));
    const refreshing = http.get('/softwait').then((r) => r); // its handler returns; its response is held
    await until(() => run > base, 5_000, 'the refresh to start');
    const stale = () => app.get(CacheMemoizeEngine).stats().byNamespace['DashboardController.softwait']?.stale ?? 0;
    const staleBefore = stale();
    const waiting = http.get('/softwait').then((r) => r); // its entry is stored, its run not settled
    await until(() => stale() !== staleBefore, 5_000, 'the stale read');
    release();
    const [refreshed, waited] = await Promise.all([refreshing, waiting]);
    expect([refreshed, waited].map((r) => [r.body, r.headers['x-cache']])).toEqual([
      [{ run: base + 1 }, 'MISS'],
      [{ run: base + 1 }, 'MISS'],
    ]);
  });
});
