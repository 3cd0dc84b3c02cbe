/*
 * A handler refreshes its entry by running its own request (refreshAhead, grace): when that run
 * fails or passes timeout.hard, the request gets the response it read, labelled STALE, and the key
 * backs off. Found by review: a refresh-ahead run that failed failed a request whose entry was
 * still fresh (503, 500), and on Redis a grace refresh past timeout.hard answered 500 (the hard
 * timeout bounded the whole lookup, before the fallback could answer). A value that comes after
 * its request was answered is not stored on a route (README, timeout.hard).
 */
import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module, ServiceUnavailableException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore } from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let runs = 0;
let failing = false;
let slow = false;

@Controller()
class FeedController {
  @Get('feed')
  @CacheMemoize({ ttl: 1000, refreshAhead: 800 })
  async feed() {
    const n = ++runs;
    if (failing) throw new ServiceUnavailableException('upstream down');
    return { n };
  }

  @Get('slowfeed')
  @CacheMemoize({ ttl: 1000, refreshAhead: 800, timeout: { hard: '300ms' } })
  async slowfeed() {
    const n = ++runs;
    if (slow) await sleep(800); // past the hard timeout, which leaves a loaded machine's lookup room
    return { n };
  }

  @Get('dash')
  @CacheMemoize({ ttl: 100, grace: '1m', timeout: { hard: '300ms' } })
  async dash() {
    const n = ++runs;
    if (slow) await sleep(800); // past the hard timeout, which leaves a loaded machine's lookup room
    return { n };
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])("a handler's refresh that fails or passes timeout.hard (%s)", (_n, makeStore) => {
  let app: INestApplication;
  beforeAll(async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix: uniquePrefix('rar') })],
      controllers: [FeedController],
    })
    class M {}
    app = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  afterEach(() => {
    failing = false;
    slow = false;
  });

  it('a refresh-ahead run that fails does not fail a request whose entry is still fresh', async () => {
    runs = 0;
    const http = request(app.getHttpServer());
    expect((await http.get('/feed')).body).toEqual({ n: 1 });
    await sleep(300); // fresh for 700 ms more: in the refresh-ahead window
    failing = true;
    const res = await http.get('/feed');
    expect({ status: res.status, body: res.body, xCache: res.headers['x-cache'] }).toEqual({
      status: 200,
      body: { n: 1 },
      xCache: 'STALE',
    });
    const backingOff = await http.get('/feed');
    expect({ status: backingOff.status, body: backingOff.body, runs }).toEqual({
      status: 200,
      body: { n: 1 },
      runs: 2,
    });
  });

  it('a refresh-ahead run past timeout.hard does not fail a request whose entry is still fresh', async () => {
    runs = 0;
    const http = request(app.getHttpServer());
    expect((await http.get('/slowfeed')).body).toEqual({ n: 1 });
    await sleep(300);
    slow = true;
    const res = await http.get('/slowfeed');
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { n: 1 } });
  });

  it('a grace refresh past timeout.hard: the stale response, then no run while the key backs off', async () => {
    runs = 0;
    const http = request(app.getHttpServer());
    expect((await http.get('/dash')).body).toEqual({ n: 1 });
    await sleep(150); // stale, within grace
    slow = true;
    const refresh = await http.get('/dash');
    expect({ status: refresh.status, body: refresh.body, xcache: refresh.headers['x-cache'] }).toEqual({
      status: 200,
      body: { n: 1 },
      xcache: 'STALE',
    });
    slow = false;
    const next = await http.get('/dash');
    expect({ body: next.body, xcache: next.headers['x-cache'], runs }).toEqual({
      body: { n: 1 },
      xcache: 'STALE',
      runs: 2,
    });
  });
});
