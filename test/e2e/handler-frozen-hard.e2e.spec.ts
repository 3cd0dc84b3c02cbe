/*
 * A route's timeout.hard bounds its request on a frozen store too. Handlers' computations are
 * bounded inside the lookup's answer (so a refresh past the timeout can fall back on what it
 * read); a first version dropped the bound around the lookup, and on a frozen Redis (SIGSTOP) the
 * request waited for operationTimeout first, then ran its handler (found by review). Behaviour,
 * not timing: each 500 comes while the lookup is still unanswered (operationTimeout 2 s, hard
 * 100 ms), so before either handler ran.
 */
import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule, redisStore } from '../../lib';
import { RedisServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let runs = 0;

@Controller()
class C {
  @Get('a')
  @CacheMemoize({ ttl: 100, timeout: { hard: '100ms' } })
  async a() {
    runs++;
    await sleep(250);
    return { ok: 1 };
  }
  @Get('b')
  @CacheMemoize({ ttl: 100, staleIfError: '1m', timeout: { hard: '100ms' } })
  async b() {
    runs++;
    await sleep(250);
    return { ok: 2 };
  }
}

it('a route on a frozen Redis answers at its hard timeout, before the store does', async () => {
  const redis = await RedisServer.launch();
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: redisStore({ url: redis.url, commandTimeout: '5s' }) },
        prefix: uniquePrefix('hfh'),
        operationTimeout: '2s',
      }),
    ],
    controllers: [C],
  })
  class M {}
  const app: INestApplication = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  try {
    redis.freeze();
    const [a, b] = await Promise.all(['a', 'b'].map((p) => request(app.getHttpServer()).get(`/${p}`)));
    expect({ a: a.status, b: b.status, runs }).toEqual({ a: 500, b: 500, runs: 0 });
  } finally {
    redis.thaw();
    await app.close();
    await redis.stop();
  }
}, 60_000);
