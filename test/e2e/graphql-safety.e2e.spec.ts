import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Args,
  Context,
  Field,
  GraphQLModule,
  Int,
  ObjectType,
  Parent,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';

/*
 * GraphQL answers that depend on more than Type.field + args: the tenant host, the endpoint
 * (admin and public schemas with same-named resolvers), and data of a field resolver's parent
 * beyond its id. Each was served to the wrong party before its fix.
 */
@ObjectType()
class Settings {
  @Field() tenant!: string;
  @Field() apiSecret!: string;
}

@Resolver(() => Settings)
class SettingsResolver {
  @Query(() => Settings)
  @CacheMemoize({ ttl: '1m' })
  settings(@Context() ctx: { req: { hostname: string } }): Settings {
    return { tenant: ctx.req.hostname, apiSecret: `secret-of-${ctx.req.hostname}` };
  }
}

@ObjectType()
class Member {
  @Field(() => Int) id!: number;
  @Field() name!: string;
}

function membersResolverFor(audience: 'admin' | 'public'): Function {
  @Resolver(() => Member)
  class MembersResolver {
    @Query(() => [Member])
    @CacheMemoize({ ttl: '1m' })
    members(): Member[] {
      const all = [
        { id: 1, name: 'alice' },
        { id: 2, name: 'bob (suspended, admins only)' },
      ];
      return audience === 'admin' ? all : all.slice(0, 1);
    }
  }
  return MembersResolver;
}

@ObjectType()
class Product {
  @Field(() => Int) id!: number;
  @Field() priceLabel!: string;
}

@Resolver(() => Product)
class ProductResolver {
  @Query(() => Product)
  product(@Args('id', { type: () => Int }) id: number, @Args('currency') currency: string) {
    return { id, currency, cents: 1000 };
  }

  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m' })
  priceLabel(@Parent() p: { cents: number; currency: string }) {
    return `${(p.cents / 100).toFixed(2)} ${p.currency}`;
  }
}

describe('GraphQL keys', () => {
  let app: INestApplication;
  beforeAll(async () => {
    @Module({ providers: [membersResolverFor('admin')] as never[] })
    class AdminModule {}
    @Module({ providers: [membersResolverFor('public'), SettingsResolver, ProductResolver] as never[] })
    class PublicModule {}
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({}),
        AdminModule,
        PublicModule,
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          path: '/admin/graphql',
          include: [AdminModule],
        }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          path: '/graphql',
          include: [PublicModule],
          fieldResolverEnhancers: ['interceptors'],
        }),
      ],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: ['error'] });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const gql = (path: string, query: string, host = 'localhost') =>
    request(app.getHttpServer()).post(path).set('Host', host).send({ query }).expect(200);

  it('carry the host: tenants never share', async () => {
    const acme = await gql('/graphql', '{ settings { tenant apiSecret } }', 'acme.example.com');
    const globex = await gql('/graphql', '{ settings { tenant apiSecret } }', 'globex.example.com');
    expect(acme.body.data.settings.apiSecret).toBe('secret-of-acme.example.com');
    expect(globex.body.data.settings.apiSecret).toBe('secret-of-globex.example.com');
  });

  it('carry the endpoint: the public schema never serves the admin resolver of the same name', async () => {
    const admin = await gql('/admin/graphql', '{ members { id name } }');
    const pub = await gql('/graphql', '{ members { id name } }');
    expect(admin.body.data.members).toHaveLength(2);
    expect(pub.body.data.members).toEqual([{ id: 1, name: 'alice' }]);
  });

  it("carry all of a field resolver's parent, not its id alone", async () => {
    const eur = await gql('/graphql', '{ product(id: 1, currency: "EUR") { priceLabel } }');
    const usd = await gql('/graphql', '{ product(id: 1, currency: "USD") { priceLabel } }');
    expect(eur.body.data.product.priceLabel).toBe('10.00 EUR');
    expect(usd.body.data.product.priceLabel).toBe('10.00 USD');
  });
});
