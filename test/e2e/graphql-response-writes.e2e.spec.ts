import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Context, Field, GraphQLModule, ObjectType, Query, Resolver } from '@nestjs/graphql';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { settle } from '../support/settle';

/*
 * A resolver that writes to its HTTP response (a cookie, a header) is not cached: its hits could
 * not send what it wrote (over HTTP, the "two visitors, two carts" rule). Found by review: the
 * interceptor never looked at a GraphQL request's response.
 */
let runs = 0;

@ObjectType()
class Cart {
  @Field() id!: string;
  @Field() items!: number;
}

type Res = { cookie(n: string, v: string): void; setHeader(n: string, v: string): void };

@Resolver(() => Cart)
class CartResolver {
  /** A new visitor's cart, its id in a cookie. */
  @Query(() => Cart)
  @CacheMemoize({ ttl: '1m' })
  cart(@Context() ctx: { res: Res }): Cart {
    const id = `cart-${++runs}`;
    ctx.res.cookie('cart', id);
    return { id, items: 0 };
  }

  @Query(() => [String])
  @CacheMemoize({ ttl: '1m' })
  products(@Context() ctx: { req: { res: Res } }): string[] {
    runs++;
    ctx.req.res.setHeader('X-Total-Count', '42');
    return ['a', 'b'];
  }

  @Query(() => [String])
  @CacheMemoize({ ttl: '1m' })
  catalog(): string[] {
    runs++;
    return ['c'];
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({}),
    GraphQLModule.forRoot<ApolloDriverConfig>({
      driver: ApolloDriver,
      autoSchemaFile: true,
      context: ({ req, res }: { req: unknown; res: unknown }) => ({ req, res }),
    }),
  ],
  providers: [CartResolver],
})
class GqlModule {}

describe('GraphQL resolvers that write to the HTTP response', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await NestFactory.create(GqlModule, { logger: ['error'] });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const gql = (query: string) => request(app.getHttpServer()).post('/graphql').send({ query }).expect(200);

  it('two new visitors never get one cart (a resolver that sets a cookie is not cached)', async () => {
    const first = await gql('{ cart { id items } }');
    expect(first.headers['set-cookie']).toEqual(['cart=cart-1; Path=/']);
    await settle(app);
    const second = await gql('{ cart { id items } }');
    expect(second.body.data.cart.id).toBe('cart-2');
    expect(second.headers['set-cookie']).toEqual(['cart=cart-2; Path=/']);
  });

  it('a resolver that sets a header (through req.res) runs for every request, and each carries it', async () => {
    const before = runs;
    const first = await gql('{ products }');
    await settle(app);
    const second = await gql('{ products }');
    expect([first.headers['x-total-count'], second.headers['x-total-count']]).toEqual(['42', '42']);
    expect(runs).toBe(before + 2);
  });

  it('a resolver that writes nothing is cached (control)', async () => {
    const before = runs;
    await gql('{ catalog }');
    await settle(app);
    const again = await gql('{ catalog }');
    expect(again.body.data.catalog).toEqual(['c']);
    expect(runs).toBe(before + 1);
  });
});
