import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, type INestApplication, type INestMicroservice, Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Args,
  Field,
  GraphQLModule,
  Info,
  Int,
  Mutation,
  ObjectType,
  Parent,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import { ClientProxy, GrpcMethod, MessagePattern, Payload } from '@nestjs/microservices';
import * as grpc from '@grpc/grpc-js';
import { firstValueFrom, lastValueFrom, of, toArray, type Observable } from 'rxjs';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { grpcHeroes, tcpMicroservice, type HeroesClient } from '../support/rpc-apps';

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
    ({ service, client } = await tcpMicroservice(RpcModule));
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
  private titles = new Map([
    [1, 'Dune'],
    [2, 'Emma'],
  ]);

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

@ObjectType()
class Post {
  @Field(() => Int) id!: number;
  @Field() title!: string;
  @Field(() => Int) run!: number;
}

@ObjectType()
class Profile {
  @Field({ nullable: true }) bio?: string;
  @Field({ nullable: true }) avatar?: string;
}

@ObjectType()
class Author {
  @Field(() => Int) id!: number;
  @Field() name!: string;
  @Field(() => [Post]) posts!: Post[];
  @Field(() => Profile) profile!: Profile;
}

interface FieldNodeLike {
  selectionSet?: { selections: Array<{ name?: { value: string } }> };
}

@Resolver(() => Author)
class AuthorResolver {
  @Query(() => Author)
  author(@Args('id', { type: () => Int }) id: number): Omit<Author, 'posts' | 'profile'> {
    return { id, name: `author ${id}` };
  }

  @ResolveField(() => [Post])
  @CacheMemoize({ ttl: '1m' })
  posts(@Parent() author: Author): Post[] {
    const run = count(`posts${author.id}`);
    return [{ id: author.id * 10, title: `post of ${author.name}`, run }];
  }

  /** Loads only the requested subfields, as resolvers that read `info` do. */
  @ResolveField(() => Profile)
  @CacheMemoize({ ttl: '1m' })
  profile(@Parent() author: Author, @Info() info: { fieldNodes: FieldNodeLike[] }): Profile {
    count(`profile${author.id}`);
    const wanted = new Set(info.fieldNodes[0].selectionSet?.selections.map((s) => s.name?.value));
    return {
      ...(wanted.has('bio') ? { bio: `bio of ${author.id}` } : {}),
      ...(wanted.has('avatar') ? { avatar: `avatar of ${author.id}` } : {}),
    };
  }
}

describe('GraphQL field resolvers (fieldResolverEnhancers: interceptors)', () => {
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({}),
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        autoSchemaFile: true,
        fieldResolverEnhancers: ['interceptors'],
      }),
    ],
    providers: [AuthorResolver],
  })
  class FieldsModule {}

  let app: INestApplication;
  beforeAll(async () => {
    app = await NestFactory.create(FieldsModule, { logger: ['error'], abortOnError: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const gql = (query: string, variables?: object) =>
    request(app.getHttpServer()).post('/graphql').send({ query, variables }).expect(200);

  it("keys a field resolver by its parent: user 2 never gets user 1's posts", async () => {
    const one = await gql('{ author(id: 1) { posts { title } } }');
    const two = await gql('{ author(id: 2) { posts { title } } }');
    expect(one.body.data.author.posts[0].title).toBe('post of author 1');
    expect(two.body.data.author.posts[0].title).toBe('post of author 2');
    await gql('{ author(id: 1) { posts { title } } }');
    expect([runs.posts1, runs.posts2]).toEqual([1, 1]);
  });

  it('keys by the selection set: a narrower cached object never answers a wider selection', async () => {
    const narrow = await gql('{ author(id: 3) { profile { bio } } }');
    expect(narrow.body.data.author.profile).toEqual({ bio: 'bio of 3' });
    const wide = await gql('query Q($id: Int!) { author(id: $id) { profile { bio avatar } } }', { id: 3 });
    expect(wide.body.data.author.profile).toEqual({ bio: 'bio of 3', avatar: 'avatar of 3' });
    const again = await gql('{ author(id: 3) { profile { avatar bio } } }');
    expect(again.body.data.author.profile).toEqual({ bio: 'bio of 3', avatar: 'avatar of 3' });
    expect(runs.profile3).toBe(2); // the same fields in another order: one entry
  });

  it('several cached fields in one request are each cached', async () => {
    await gql('{ a: author(id: 5) { posts { title } } b: author(id: 6) { posts { title } } }');
    await gql('{ a: author(id: 5) { posts { title } } b: author(id: 6) { posts { title } } }');
    expect([runs.posts5, runs.posts6]).toEqual([1, 1]);
  });
});

describe('GraphQL field resolvers without the interceptors enhancer', () => {
  it('warn at bootstrap, naming the resolver and the fix', async () => {
    const warnings: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({}),
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
      ],
      providers: [AuthorResolver],
    })
    class PlainFieldsModule {}
    const app = await NestFactory.create(PlainFieldsModule, { logger: false });
    await app.init();
    await app.close();
    spy.mockRestore();
    const posts = warnings.filter((w) => w.includes('AuthorResolver.posts'));
    expect(posts).toHaveLength(1);
    expect(posts[0]).toContain("fieldResolverEnhancers: ['interceptors']");
  });
});

@Controller()
class HeroesController {
  @GrpcMethod('HeroService', 'FindOne')
  @CacheMemoize({ ttl: '1m' })
  findOne(data: { id: number }, metadata: grpc.Metadata) {
    const caller = String(metadata.get('authorization')[0] ?? 'anonymous');
    return { id: data.id, name: `hero ${data.id}`, caller, run: count(`hero${data.id}`) };
  }

  @GrpcMethod('HeroService', 'FindPublic')
  @CacheMemoize({ ttl: '1m', public: true })
  findPublic(data: { id: number }) {
    return { id: data.id, name: `hero ${data.id}`, caller: 'public', run: count(`public${data.id}`) };
  }
}

describe('CacheMemoizeInterceptor on gRPC: credentials in metadata are private', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [HeroesController] })
  class GrpcModule {}
  let service: INestMicroservice;
  let client: HeroesClient;
  beforeAll(async () => {
    ({ service, client } = await grpcHeroes(GrpcModule));
  });
  afterAll(async () => {
    client.close();
    await service.close();
  });
  const call = (method: string, id: number, auth?: string) =>
    new Promise<{ caller: string; run: number }>((resolve, reject) => {
      const metadata = new grpc.Metadata();
      if (auth !== undefined) metadata.set('authorization', auth);
      client[method]({ id }, metadata, (error: Error | null, value: { caller: string; run: number }) =>
        error ? reject(error) : resolve(value),
      );
    });

  it('anonymous calls share an entry; calls carrying authorization are never shared unless public', async () => {
    expect((await call('FindOne', 1)).run).toBe(1);
    expect((await call('FindOne', 1)).run).toBe(1);
    const alice = await call('FindOne', 1, 'Bearer alice');
    const bob = await call('FindOne', 1, 'Bearer bob');
    expect([alice.caller, bob.caller]).toEqual(['Bearer alice', 'Bearer bob']);
    expect(runs.hero1).toBe(3);
    await call('FindPublic', 2, 'Bearer alice');
    expect((await call('FindPublic', 2, 'Bearer bob')).run).toBe(1);
  });
});
