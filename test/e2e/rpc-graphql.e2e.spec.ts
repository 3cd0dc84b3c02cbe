import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, type INestApplication, type INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Args, Field, GraphQLModule, Int, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { ClientProxy, ClientProxyFactory, MessagePattern, Payload, Transport } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, of, toArray, type Observable } from 'rxjs';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { freePort } from '../support/servers';

const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);

@Controller()
class MathController {
  @MessagePattern('sum')
  @CacheMemoize({ ttl: '1m' })
  sum(@Payload() data: { values: number[] }) {
    count('sum');
    return data.values.reduce((a, b) => a + b, 0);
  }

  @MessagePattern({ cmd: 'range' })
  @CacheMemoize({ ttl: '1m' })
  range(@Payload() n: number): Observable<number> {
    count('range');
    return of(...Array.from({ length: n }, (_, i) => i));
  }
}

@Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [MathController] })
class RpcModule {}

describe('CacheMemoizeInterceptor on a TCP microservice', () => {
  let service: INestMicroservice;
  let client: ClientProxy;
  beforeAll(async () => {
    const port = await freePort();
    service = await NestFactory.createMicroservice(RpcModule, { transport: Transport.TCP, options: { host: '127.0.0.1', port }, logger: false });
    await service.listen();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await client.connect();
  });
  afterAll(async () => {
    client.close();
    await service.close();
  });

  it('keys on pattern + payload', async () => {
    expect(await firstValueFrom(client.send('sum', { values: [1, 2, 3] }))).toBe(6);
    expect(await firstValueFrom(client.send('sum', { values: [1, 2, 3] }))).toBe(6);
    expect(await firstValueFrom(client.send('sum', { values: [3, 2, 1] }))).toBe(6);
    expect(runs.sum).toBe(2); // [1,2,3] and [3,2,1] are different payloads
  });

  it('replays every emission of an Observable handler', async () => {
    const first = await lastValueFrom(client.send({ cmd: 'range' }, 4).pipe(toArray()));
    const second = await lastValueFrom(client.send({ cmd: 'range' }, 4).pipe(toArray()));
    expect(first).toEqual([0, 1, 2, 3]);
    expect(second).toEqual(first);
    expect(runs.range).toBe(1);
  });
});

@ObjectType()
class Book {
  @Field(() => Int) id!: number;
  @Field() title!: string;
  @Field(() => Int) run!: number;
}

@Resolver(() => Book)
class BookResolver {
  private titles = new Map([[1, 'Dune'], [2, 'Emma']]);

  @Query(() => Book)
  @CacheMemoize({ ttl: '1m' })
  book(@Args('id', { type: () => Int }) id: number): Book {
    return { id, title: this.titles.get(id) ?? '?', run: count(`book${id}`) };
  }

  @Mutation(() => Book)
  @CacheMemoize()
  rename(@Args('id', { type: () => Int }) id: number, @Args('title') title: string): Book {
    this.titles.set(id, title);
    return { id, title, run: count('rename') };
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({}),
    GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
  ],
  providers: [BookResolver],
})
class GqlModule {}

describe('CacheMemoizeInterceptor on GraphQL resolvers (Apollo)', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await NestFactory.create(GqlModule, { logger: ['error'], abortOnError: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const gql = (query: string, headers: Record<string, string> = {}) =>
    request(app.getHttpServer()).post('/graphql').set(headers).send({ query }).expect(200);

  it('keys on Type.field + args; mutations are never cached', async () => {
    const a = await gql('{ book(id: 1) { id title run } }');
    const b = await gql('{ book(id: 1) { title run id } }');
    expect(a.body.data.book).toEqual({ id: 1, title: 'Dune', run: 1 });
    expect(b.body.data.book.run).toBe(1);
    await gql('{ book(id: 2) { run } }');
    expect(runs.book1).toBe(1);
    expect(runs.book2).toBe(1);
    await gql('mutation { rename(id: 2, title: "Persuasion") { title } }');
    await gql('mutation { rename(id: 2, title: "Persuasion") { title } }');
    expect(runs.rename).toBe(2);
  });

  it('does not share responses between users without vary', async () => {
    await gql('{ book(id: 1) { run } }', { authorization: 'Bearer alice' });
    await gql('{ book(id: 1) { run } }', { authorization: 'Bearer bob' });
    expect(runs.book1).toBe(3);
  });
});
