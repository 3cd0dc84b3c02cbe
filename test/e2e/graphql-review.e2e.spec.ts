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
  Mutation,
  ObjectType,
  Parent,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { createClient, type Client } from 'graphql-ws';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeModule,
  type CacheRequest,
  type CacheStore,
  memcachedStore,
  memoryStore,
  redisStore,
} from '../../lib';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * GraphQL answers a review found served to the wrong party (each failed before its fix).
 *
 * GraphQL over WebSocket (graphql-ws, `subscriptions: { 'graphql-ws': true }`) carries queries too.
 * Its credentials travel in connectionParams or in the upgrade request's headers (Cookie,
 * Authorization), and Nest sets `context.req` to graphql-ws's own context, which has no `headers`:
 * the interceptor took such requests as anonymous and shared per-user answers.
 */

// `ws` (a dependency of @nestjs/graphql) ships no types: the constructor as the test uses it.
type WebSocketCtor = new (address: string, protocols?: string | string[], options?: object) => object;
const WebSocket = require('ws') as WebSocketCtor;

const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);

@ObjectType()
class Account {
  @Field(() => Int) id!: number;
  @Field() owner!: string;
}

@Resolver(() => Account)
class AccountResolver {
  @Query(() => String)
  @CacheMemoize({ ttl: '1m' })
  whoami(@Context() ctx: { user?: string }): string {
    count('whoami');
    return `you are ${ctx.user ?? 'nobody'}`;
  }

  @Query(() => String)
  @CacheMemoize({ ttl: '1m', vary: (req: CacheRequest) => req.headers.authorization })
  perUser(@Context() ctx: { user?: string }): string {
    count(`perUser ${ctx.user}`);
    return `for ${ctx.user ?? 'nobody'}`;
  }

  @Query(() => Account)
  account(): Account {
    return { id: 1, owner: 'shared' } as Account;
  }

  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m' })
  owner(@Parent() _a: Account, @Context() ctx: { user?: string }): string {
    return `owned by viewer ${ctx.user ?? 'nobody'}`;
  }
}

type WsContext = {
  connectionParams?: { authorization?: string };
  extra?: { request?: { headers: Record<string, string> } };
};
/** As apps do: the HTTP header, else the WebSocket's connectionParams, else its upgrade request's cookie. */
function userOf(arg: { req?: { headers: Record<string, string> } } & WsContext): string | undefined {
  return arg.req?.headers?.authorization ?? arg.connectionParams?.authorization ?? arg.extra?.request?.headers?.cookie;
}

describe('GraphQL over WebSocket (graphql-ws): credentials are private', () => {
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({}),
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        autoSchemaFile: true,
        fieldResolverEnhancers: ['interceptors'],
        subscriptions: { 'graphql-ws': true },
        context: (arg: never) => ({ user: userOf(arg) }),
      }),
    ],
    providers: [AccountResolver],
  })
  class WsModule {}

  let app: INestApplication;
  let url: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    app = await NestFactory.create(WsModule, { logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    url = `ws://127.0.0.1:${address.port}/graphql`;
  });
  afterAll(async () => {
    await Promise.all(clients.map(async (c) => c.dispose()));
    await app.close();
  });

  function client(opts: { authorization?: string; cookie?: string; query?: string } = {}): Client {
    const headers = opts.cookie === undefined ? {} : { cookie: opts.cookie };
    class WithHeaders extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers });
      }
    }
    const c = createClient({
      url: url + (opts.query ?? ''),
      webSocketImpl: WithHeaders,
      lazy: true,
      retryAttempts: 0,
      connectionParams: opts.authorization === undefined ? {} : { authorization: opts.authorization },
    });
    clients.push(c);
    return c;
  }
  async function query<T>(c: Client, q: string): Promise<T> {
    for await (const r of c.iterate({ query: q })) return r.data as T;
    throw new Error('no result');
  }

  it('sanity: over HTTP, Authorization keeps per-user answers apart', async () => {
    const server = app.getHttpServer();
    const a = await request(server).post('/graphql').set('authorization', 'alice').send({ query: '{ whoami }' });
    const b = await request(server).post('/graphql').set('authorization', 'bob').send({ query: '{ whoami }' });
    expect([a.body.data.whoami, b.body.data.whoami]).toEqual(['you are alice', 'you are bob']);
  });

  it("a query authenticated by connectionParams never serves one user's answer to another", async () => {
    const alice = await query<{ whoami: string }>(client({ authorization: 'ws-alice' }), '{ whoami }');
    const bob = await query<{ whoami: string }>(client({ authorization: 'ws-bob' }), '{ whoami }');
    expect(alice.whoami).toBe('you are ws-alice');
    expect(bob.whoami).toBe('you are ws-bob');
  });

  it("a field resolved for a user authenticated by the upgrade request's Cookie is never shared", async () => {
    type Owner = { account: { owner: string } };
    const carol = await query<Owner>(client({ cookie: 'sid=carol' }), '{ account { owner } }');
    const dave = await query<Owner>(client({ cookie: 'sid=dave' }), '{ account { owner } }');
    expect(carol.account.owner).toBe('owned by viewer sid=carol');
    expect(dave.account.owner).toBe('owned by viewer sid=dave');
  });

  it('a token in the upgrade URL makes the request private (the cache cannot read what it means)', async () => {
    const before = runs.whoami ?? 0;
    await query(client({ query: '?token=erin' }), '{ whoami }');
    await query(client({ query: '?token=frank' }), '{ whoami }');
    expect(runs.whoami).toBe(before + 2);
  });

  it('anonymous connections share an entry; a vary function keys connectionParams per user', async () => {
    const before = runs.whoami ?? 0;
    const first = await query<{ whoami: string }>(client(), '{ whoami }');
    await query(client(), '{ whoami }');
    expect(first.whoami).toBe('you are nobody');
    expect(runs.whoami).toBe(before + 1);
    for (const who of ['ws-gina', 'ws-gina', 'ws-hal']) {
      expect(await query(client({ authorization: who }), '{ perUser }')).toEqual({ perUser: `for ${who}` });
    }
    expect([runs['perUser ws-gina'], runs['perUser ws-hal']]).toEqual([1, 1]);
  });
});

/*
 * Two answers served from the cache that must not be, on every store:
 * - a cached @ResolveField under a mutation's result answered with what it held before the mutation
 *   (only root Mutation.* fields were skipped): no field of a mutation operation is cached now;
 * - an Error a resolver returns in a result slot (DataLoader.loadMany) was cached on the memory store
 *   (shared stores refuse to encode it) and replayed for the whole ttl: a result that is an Error, or
 *   a list holding one, is not cached.
 */
const servers = sharedServers();
const stores: Array<[string, () => CacheStore]> = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
];

const comments = new Map<number, string[]>();
let backendDown = false;

@ObjectType()
class Post {
  @Field(() => Int) id!: number;
  @Field(() => [String]) comments!: string[];
}

@ObjectType()
class User {
  @Field(() => Int) id!: number;
  @Field() name!: string;
}

const users = () =>
  new DataLoader<number, User>(async (ids) =>
    // one id fails while the backend is degraded: DataLoader reports it as an Error in its slot
    ids.map((id) => (id === 2 && backendDown ? new Error(`user ${id} unavailable`) : { id, name: `user ${id}` })),
  );

@Resolver(() => Post)
class PostResolver {
  @Query(() => Post)
  post(@Args('id', { type: () => Int }) id: number) {
    return { id };
  }

  @Mutation(() => Post)
  addComment(@Args('id', { type: () => Int }) id: number, @Args('text') text: string) {
    comments.set(id, [...(comments.get(id) ?? []), text]);
    return { id };
  }

  @ResolveField(() => [String])
  @CacheMemoize({ ttl: '1m' })
  comments(@Parent() post: { id: number }) {
    return comments.get(post.id) ?? [];
  }

  @Query(() => [User], { nullable: 'itemsAndList' })
  @CacheMemoize({ ttl: '1m' })
  users(@Args('ids', { type: () => [Int] }) ids: number[]) {
    return users().loadMany(ids);
  }
}

describe.each(stores)('GraphQL results never served from the cache (Apollo, %s store)', (_name, store) => {
  let app: INestApplication;
  beforeAll(async () => {
    comments.clear();
    backendDown = false;
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({ stores: { default: store() }, prefix: uniquePrefix('gqlreview') }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          fieldResolverEnhancers: ['interceptors'],
        }),
      ],
      providers: [PostResolver],
    })
    class PostsModule {}
    app = await NestFactory.create(PostsModule, { logger: ['error'] });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const gql = (query: string) => request(app.getHttpServer()).post('/graphql').send({ query }).expect(200);

  it("a field nested in a mutation's result shows what the mutation wrote", async () => {
    const before = await gql('{ post(id: 1) { comments } }');
    expect(before.body.data.post.comments).toEqual([]);
    await settle(app);
    const after = await gql('mutation { addComment(id: 1, text: "first!") { id comments } }');
    expect(after.body.data.addComment.comments).toEqual(['first!']);
    // Queries still read the entry (until the ttl or an invalidation): the mutation did not fill it.
    expect((await gql('{ post(id: 1) { comments } }')).body.data.post.comments).toEqual([]);
  });

  it('a per-item error a resolver returns (DataLoader.loadMany) is not cached as if it were data', async () => {
    backendDown = true;
    const degraded = await gql('{ users(ids: [1, 2]) { id name } }');
    expect(degraded.body.errors?.[0]?.message).toBe('user 2 unavailable');
    await settle(app);
    backendDown = false;
    const recovered = await gql('{ users(ids: [1, 2]) { id name } }');
    expect(recovered.body.errors).toBeUndefined();
    expect(recovered.body.data.users).toEqual([
      { id: 1, name: 'user 1' },
      { id: 2, name: 'user 2' },
    ]);
  });
});
