/*
 * GraphQL: a field's entry waits for its HTTP response's headers (a late Set-Cookie keeps it out),
 * and the response is written once every field resolved. Fields joining a computation of the same
 * key in the same request (aliases, list items sharing a parentKey) or crossed between two requests
 * waited for themselves until the 5 s header wait gave up, and nothing was stored (found by review).
 */
import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Args, Field, GraphQLModule, Int, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { ExpressAdapter } from '@nestjs/platform-express';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore } from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const runs = { product: 0, author: 0, catalog: 0 };

@ObjectType()
class Product {
  @Field(() => Int) id!: number;
  @Field(() => Int) authorId!: number;
}

@Resolver(() => Product)
class ProductResolver {
  @Query(() => Product)
  @CacheMemoize({ ttl: '1m' })
  async product(@Args('id', { type: () => Int }) id: number): Promise<Product> {
    runs.product++;
    return { id, authorId: 7 } as Product;
  }

  @Query(() => [Product])
  async products(): Promise<Product[]> {
    return [1, 2, 3].map((id) => ({ id, authorId: 7 }) as Product);
  }

  @Query(() => [Product])
  @CacheMemoize({ ttl: '1m' })
  async catalog(): Promise<Product[]> {
    runs.catalog++;
    await new Promise((r) => setTimeout(r, 100));
    return [1, 2].map((id) => ({ id, authorId: 9 }) as Product);
  }

  @Query(() => [Product])
  async fast(@Args('id', { type: () => Int }) id: number): Promise<Product[]> {
    return [{ id, authorId: id } as Product];
  }

  @Query(() => [Product])
  async slow(@Args('id', { type: () => Int }) id: number): Promise<Product[]> {
    await new Promise((r) => setTimeout(r, 100));
    return [{ id, authorId: id } as Product];
  }

  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: (p: Product) => p.authorId })
  async author(@Parent() p: Product): Promise<string> {
    runs.author++;
    return `author ${p.authorId}`;
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])('GraphQL fields that need one key twice (%s)', (_n, makeStore) => {
  let app: INestApplication;
  const query = (q: string) => request(app.getHttpServer()).post('/graphql').send({ query: q });
  beforeAll(async () => {
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix: uniquePrefix('gsk') }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          fieldResolverEnhancers: ['interceptors'],
        }),
      ],
      providers: [ProductResolver],
    })
    class M {}
    app = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  beforeEach(() => {
    runs.product = 0;
    runs.author = 0;
    runs.catalog = 0;
  });
  afterAll(() => app.close());

  it('two aliases of one field: one run, and the entry is stored', async () => {
    const res = await query('{ a: product(id: 1) { id } b: product(id: 1) { id } }');
    expect(res.body.data).toEqual({ a: { id: 1 }, b: { id: 1 } });
    await query('{ product(id: 1) { id } }');
    expect(runs.product).toBe(1);
  });

  it('list items whose field resolver shares a key (parentKey): one run, and the entry is stored', async () => {
    const res = await query('{ products { id author } }');
    expect(res.body.data.products).toEqual([1, 2, 3].map((id) => ({ id, author: 'author 7' })));
    const again = await query('{ products { id author } }');
    expect(again.body.data).toEqual(res.body.data);
    expect(runs.author).toBe(1);
  });

  it('two requests, each needing a field the other computes: each answers, and both entries are stored', async () => {
    const [a, b] = await Promise.all([
      query('{ fast(id: 11) { author } slow(id: 12) { author } }'),
      query('{ fast(id: 12) { author } slow(id: 11) { author } }'),
    ]);
    expect([a.body.data, b.body.data]).toEqual([
      { fast: [{ author: 'author 11' }], slow: [{ author: 'author 12' }] },
      { fast: [{ author: 'author 12' }], slow: [{ author: 'author 11' }] },
    ]);
    // A field another request was still computing ran uncached (that entry was not yet known shareable).
    const first = runs.author;
    await query('{ fast(id: 11) { author } slow(id: 12) { author } }');
    expect({ first: first >= 2 && first <= 4, more: runs.author - first }).toEqual({ first: true, more: 0 });
  });

  it('concurrent requests for one cold query: each field runs once across them (single-flight)', async () => {
    const bodies = await Promise.all([1, 2, 3].map(() => query('{ catalog { id author } }')));
    expect(bodies.map((r) => r.body.data)).toEqual(
      [1, 2, 3].map(() => ({ catalog: [1, 2].map((id) => ({ id, author: 'author 9' })) })),
    );
    expect({ catalog: runs.catalog, author: runs.author }).toEqual({ catalog: 1, author: 1 });
  });
});
