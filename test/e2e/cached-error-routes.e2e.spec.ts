/*
 * A cached error (cacheErrors) served from a shared store answers a route as the original did:
 * status, body and content type, for Nest's HttpException shapes and for an http-errors style
 * error (statusCode 404: it came back as a 500 from Redis before, found by review), whose message
 * stays hidden when it was (expose: false), and an error with a `status` only (still a 500).
 */
import 'reflect-metadata';
import {
  BadRequestException,
  Controller,
  ForbiddenException,
  Get,
  GoneException,
  HttpException,
  type INestApplication,
  Injectable,
  Module,
  NotFoundException,
  Param,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore } from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

class ProductGone extends GoneException {}
/** An http-errors style error (createError(404)): Nest answers its statusCode. */
const httpError = (status: number, message: string) =>
  Object.assign(new Error(message), { statusCode: status, status, expose: true });

const ERRORS: Record<string, () => unknown> = {
  plain404: () => new NotFoundException(),
  msg404: () => new NotFoundException('product 1 not found'),
  obj404: () => new NotFoundException({ code: 'E_PRODUCT', detail: 'no such product' }),
  arr400: () => new BadRequestException(['id must be a number', 'id must be positive']),
  text418: () => new HttpException('teapot', 418),
  obj418: () => new HttpException({ status: 418, error: 'teapot' }, 418),
  described400: () => new BadRequestException('bad id', { description: 'Invalid', cause: new Error('c') }),
  subclass410: () => new ProductGone('gone for good'),
  forbidden: () => new ForbiddenException(),
  httpErrors404: () => httpError(404, 'Not here'),
  // http-errors sets expose: false on 5xx: the internal message never reaches the client, replayed either.
  internal503: () =>
    Object.assign(httpError(503, 'pg: connect ECONNREFUSED 10.0.3.7:5432 (user=billing password=hunter2)'), {
      expose: false,
    }),
  // An upstream client's error (Octokit, superagent): status only, which Nest does not read (a 500).
  upstream404: () => Object.assign(new Error('GET https://internal-api.local/v1/users/7 - 404'), { status: 404 }),
};

@Injectable()
class Products {
  @CacheMemoize({ ttl: '1m', cacheErrors: { when: () => true, ttl: '30s' } })
  async find(kind: string): Promise<{ ok: true }> {
    throw ERRORS[kind]();
  }
}

@Controller()
class ProductsController {
  constructor(private readonly products: Products) {}
  @Get('p/:kind')
  get(@Param('kind') kind: string) {
    return this.products.find(kind);
  }
}

describe.each([
  ['express redis', () => new ExpressAdapter(), () => redisStore({ url: servers.redis })],
  ['fastify redis', () => new FastifyAdapter(), () => redisStore({ url: servers.redis })],
  ['express memory', () => new ExpressAdapter(), () => memoryStore()],
])('a cached error answers as the original did (%s)', (_n, makeAdapter, makeStore) => {
  let app: INestApplication;
  beforeAll(async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix: uniquePrefix('ceh') })],
      controllers: [ProductsController],
      providers: [Products],
    })
    class M {}
    app = await NestFactory.create(M, makeAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());

  it.each(Object.keys(ERRORS))('%s', async (kind) => {
    const http = request(app.getHttpServer());
    const first = await http.get(`/p/${kind}`);
    const second = await http.get(`/p/${kind}`);
    const view = (r: request.Response) => ({ status: r.status, body: r.body, type: r.headers['content-type'] });
    expect(view(second)).toEqual(view(first));
  });
});
