import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';

/*
 * A body nested deeper than the cache's copy could recurse (3,000 levels), which the framework
 * itself serializes: the cached route answers it as the uncached one does. It failed with 500
 * (RangeError in the response copy) before the copy became iterative.
 */

const DEPTH = 3_000;
function nested(depth: number): Record<string, unknown> {
  let node: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i++) node = { d: node };
  return node;
}
const expected = JSON.stringify(nested(DEPTH));

let runs = 0;
@Controller('deep')
class DeepController {
  @Get('cached')
  @CacheMemoize({ public: true })
  cached() {
    runs++;
    return nested(DEPTH);
  }

  @Get('plain')
  plain() {
    return nested(DEPTH);
  }
}

@Module({ imports: [CacheMemoizeModule.forRoot()], controllers: [DeepController] })
class DeepModule {}

describe.each([
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const)('a 3,000-level body (%s)', (_name, adapter) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await NestFactory.create(DeepModule, adapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());

  it('is answered on a miss and on a hit as the uncached route answers it', async () => {
    const plain = await request(app.getHttpServer()).get('/deep/plain');
    expect([plain.status, plain.text === expected]).toEqual([200, true]);
    const before = runs;
    const miss = await request(app.getHttpServer()).get('/deep/cached');
    const hit = await request(app.getHttpServer()).get('/deep/cached');
    expect([miss.status, miss.headers['x-cache'], miss.text === expected]).toEqual([200, 'MISS', true]);
    expect([hit.status, hit.headers['x-cache'], hit.text === expected]).toEqual([200, 'HIT', true]);
    expect(runs - before).toBe(1);
  });
});
