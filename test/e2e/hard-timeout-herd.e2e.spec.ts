/*
 * timeout.hard on a cached route whose store lookups answer after it (Redis behind a stalling
 * proxy): the requests are answered (500), and the handler runs once for all of them, not once per
 * request. A first fix of the stuck key (8ce1a46) ran it 6 times (found by review); the values
 * come after their requests were answered and are not stored on a route, so each run was waste.
 */
import 'reflect-metadata';
import { Controller, Get, type INestApplication, Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { SLOW_NOT_DOWN_MS, StallingProxy } from '../support/failures-proxy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
const N = 6;
let runs = 0;
let gate: Promise<void> | undefined;
let open: () => void = () => undefined;

@Controller()
class C {
  @Get('a/:id')
  @CacheMemoize({ ttl: '1m', timeout: { hard: '300ms' } })
  async a() {
    runs++;
    if (gate !== undefined) await gate;
    return { ok: 1 };
  }
}

it(`${N} concurrent requests past the hard timeout before their lookups answered: one handler run`, async () => {
  jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  const proxy = await StallingProxy.before(servers.redis);
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: proxy.slowRedisStore() },
        prefix: uniquePrefix('thttp'),
        operationTimeout: SLOW_NOT_DOWN_MS,
      }),
    ],
    controllers: [C],
  })
  class M {}
  const app: INestApplication = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  try {
    await request(app.getHttpServer()).get('/a/0'); // warm
    runs = 0;
    gate = new Promise<void>((r) => (open = r));
    proxy.stall(500, 500);
    const res = await Promise.all(Array.from({ length: N }, () => request(app.getHttpServer()).get('/a/1')));
    expect(res.map((r) => r.status)).toEqual(Array(N).fill(500));
    await until(() => runs >= 1, 5_000, 'the late run to start');
    await until(() => runs >= 2, 1_000).catch(() => undefined); // a bound: extra runs would start within it
    const started = runs;
    open();
    expect({ runs: started }).toEqual({ runs: 1 });
  } finally {
    open();
    proxy.release();
    await app.close();
    await proxy.close();
  }
}, 30_000);
