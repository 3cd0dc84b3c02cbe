import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule } from '../../sample-app/src/app.module';
import { ProductsRepository } from '../../sample-app/src/catalog/products.repository';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

describe.each([
  ['memory', {}],
  ['redis', { CACHE_STORE: 'redis', REDIS_URL: servers.redis }],
  ['memcached', { CACHE_STORE: 'memcached', MEMCACHED_SERVERS: servers.memcached.join(',') }],
])('sample app over HTTP (CACHE_STORE=%s)', (name, env) => {
  let app: INestApplication;
  let repo: ProductsRepository;
  const saved = { ...process.env };

  beforeAll(async () => {
    ProductsRepository.latencyMs = 20;
    Object.assign(process.env, env, { CACHE_PREFIX: uniquePrefix(name) });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    repo = app.get(ProductsRepository);
  });

  afterAll(async () => {
    await app.close();
    process.env = saved;
  });

  it('serves the second request for a product from the cache', async () => {
    const before = repo.queries;
    const first = await request(app.getHttpServer()).get('/products/3').expect(200);
    const second = await request(app.getHttpServer()).get('/products/3').expect(200);
    expect(second.body).toEqual(first.body);
    expect(first.body).toMatchObject({ id: 3, name: 'Espresso beans', priceWithTax: 18 });
    expect(repo.queries - before).toBe(1);
  });

  it('runs the repository once for 50 concurrent cold requests', async () => {
    const before = repo.queries;
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => request(app.getHttpServer()).get('/products?category=coffee')),
    );
    expect(responses.every((r) => r.status === 200 && r.body[0]?.id === 3)).toBe(true);
    expect(repo.queries - before).toBe(1);
  });

  it('busts the product and the lists containing it on update (tag invalidation)', async () => {
    await request(app.getHttpServer()).get('/products/2').expect(200);
    await request(app.getHttpServer()).get('/products?category=tea').expect(200);
    const before = repo.queries;
    await request(app.getHttpServer()).patch('/products/2').send({ price: 7 }).expect(200);
    const product = await request(app.getHttpServer()).get('/products/2').expect(200);
    const list = await request(app.getHttpServer()).get('/products?category=tea').expect(200);
    expect(product.body.price).toBe(7);
    expect(list.body.find((p: { id: number }) => p.id === 2).price).toBe(7);
    expect(repo.queries - before).toBe(3); // update + refetch product + refetch list
    const stats = await request(app.getHttpServer()).get('/stats').expect(200);
    expect(stats.body.cache.hit).toBeGreaterThan(0);
    expect(stats.body.cache.invalidate).toBeGreaterThan(0);
  });

  it('caches HTTP responses with X-Cache, per user where the route varies by user', async () => {
    const first = await request(app.getHttpServer()).get('/products/4').expect(200);
    const second = await request(app.getHttpServer()).get('/products/4').expect(200);
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    const alice = await request(app.getHttpServer())
      .get('/products/me/recommendations')
      .set('Authorization', 'Bearer alice');
    const bob = await request(app.getHttpServer())
      .get('/products/me/recommendations')
      .set('Authorization', 'Bearer bob');
    const alice2 = await request(app.getHttpServer())
      .get('/products/me/recommendations')
      .set('Authorization', 'Bearer alice');
    expect([alice.headers['x-cache'], bob.headers['x-cache'], alice2.headers['x-cache']]).toEqual([
      'MISS',
      'MISS',
      'HIT',
    ]);
    expect(alice2.body.at).toBe(alice.body.at);
  });

  it('exposes /metrics and /health', async () => {
    await request(app.getHttpServer()).get('/products/1').expect(200);
    await settle(app); // the response's write lands after it went out: until then a request joins it (a miss)
    await request(app.getHttpServer()).get('/products/1').expect(200);
    const metrics = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(metrics.text).toMatch(
      /cache_memoize_requests_total\{namespace="ProductsController.get",result="hit"\} [1-9]/,
    );
    expect(metrics.text).toMatch(/cache_memoize_compute_duration_seconds_bucket/);
    const health = await request(app.getHttpServer()).get('/health').expect(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.info['cache:default']).toMatchObject({ status: 'up', kind: name });
    expect(health.body.info['cache:local']).toMatchObject({ status: 'up', kind: 'memory' });
  });

  it("caches the catalogue's 404s for 30 s (cacheErrors): the same 404 body, one query", async () => {
    const before = repo.queries;
    const first = await request(app.getHttpServer()).get('/products/999').expect(404);
    const second = await request(app.getHttpServer()).get('/products/999').expect(404);
    expect(second.body).toEqual(first.body);
    expect(first.body).toMatchObject({ statusCode: 404, message: 'product 999 not found' });
    expect(repo.queries - before).toBe(1);
  });
});
