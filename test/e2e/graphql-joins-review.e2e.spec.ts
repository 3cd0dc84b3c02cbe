/*
 * GraphQL joins, found by review:
 * - the record of which requests hold unwritten entries was one per interceptor instance, and Nest
 *   makes one per module: two requests whose cached fields live in resolvers of two modules waited
 *   for each other until the header wait (5 s) gave up, and neither entry was stored;
 * - a field waiting for a key took the values of a computation an invalidation had detached: a
 *   field that started after the invalidation resolved got the value from before it (same request),
 *   or ran its resolver uncached while its own computation ran it again (another request).
 */
import 'reflect-metadata';
import { ServerResponse } from 'node:http';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { type INestApplication, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Args, Field, GraphQLModule, Int, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { ExpressAdapter } from '@nestjs/platform-express';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeModule,
  type CacheStore,
  InvalidationService,
  memoryStore,
  redisStore,
  withCacheMode,
} from '../../lib';
import { gate } from '../support/gate';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
const runs = { author: 0, editor: 0, k: 0, other: 0, gated: 0 };
let version = 1;
let slowWrap = gate();
let resolverGate = gate();

@ObjectType()
class Product {
  @Field(() => Int) id!: number;
  @Field(() => Int) authorId!: number;
}

@ObjectType()
class Wrap {
  @Field(() => Int) n!: number;
}

@Resolver(() => Product)
class ProductResolver {
  @Query(() => [Product])
  async fast(@Args('id', { type: () => Int }) id: number): Promise<Product[]> {
    return [{ id, authorId: id }];
  }
  @Query(() => [Product])
  async many(): Promise<Product[]> {
    return Array.from({ length: 20 }, (_, i) => ({ id: 100 + i, authorId: 100 + i }));
  }
  @Query(() => [Product])
  async late(@Args('id', { type: () => Int }) id: number): Promise<Product[]> {
    await new Promise((r) => setTimeout(r, 100));
    return [{ id, authorId: id }];
  }
  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: (p: Product) => p.authorId })
  async author(@Parent() p: Product): Promise<string> {
    runs.author++;
    return `author ${p.authorId}`;
  }
}

/** In a module of its own: Nest gives it an interceptor instance of its own. */
@Resolver(() => Product)
class EditorResolver {
  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: (p: Product) => p.authorId })
  async editor(@Parent() p: Product): Promise<string> {
    runs.editor++;
    return `editor ${p.authorId}`;
  }
}

@Module({ providers: [EditorResolver] })
class EditorModule {}

@Resolver(() => Wrap)
class WrapResolver {
  @Query(() => Wrap)
  async wrap(@Args('delay', { type: () => Int, nullable: true }) delay?: number): Promise<Wrap> {
    if (delay !== undefined) await new Promise((r) => setTimeout(r, delay));
    return { n: 1 };
  }
  @Query(() => Wrap)
  async slowWrap(): Promise<Wrap> {
    await slowWrap.opened;
    return { n: 2 };
  }
  @Query(() => Int)
  @CacheMemoize({ ttl: '1m' })
  async other(): Promise<number> {
    runs.other++;
    return 5;
  }
  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: () => 'gated', requestTags: () => ['k'] })
  async gated(): Promise<string> {
    runs.gated++;
    const mine = runs.gated;
    await resolverGate.opened;
    return `run ${mine}`;
  }
  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: () => 'one', requestTags: () => ['k'] })
  async k(): Promise<string> {
    runs.k++;
    return `v${version}`;
  }
}

const stores = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as const;

/** A GraphQL app with field resolvers intercepted, on `store`. */
async function graphqlApp(store: CacheStore, prefix: string, providers: Type[], imports: Type[] = []) {
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: uniquePrefix(prefix) }),
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        autoSchemaFile: true,
        fieldResolverEnhancers: ['interceptors'],
      }),
      ...imports,
    ],
    providers,
  })
  class M {}
  const app = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
  app.use((req: { headers: Record<string, string> }, _res: unknown, next: () => void) =>
    req.headers['x-cache-mode'] === 'refresh' ? withCacheMode('refresh', next) : next(),
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each(stores)('GraphQL joins (%s)', (_name, makeStore) => {
  let app: INestApplication;
  const query = (q: string) => request(app.getHttpServer()).post('/graphql').send({ query: q });
  beforeAll(async () => {
    app = await graphqlApp(makeStore(), 'gjr', [ProductResolver, WrapResolver], [EditorModule]);
  });
  afterAll(() => app.close());
  beforeEach(async () => {
    await app.get(InvalidationService).clear(); // every case starts cold
    Object.assign(runs, { author: 0, editor: 0, k: 0, other: 0, gated: 0 });
    version = 1;
    slowWrap = gate();
    resolverGate = gate();
  });

  it('two requests needing fields of each other, in resolvers of two modules: both answer, both entries are stored', async () => {
    const [a, b] = await Promise.all([
      query('{ fast(id: 11) { author } late(id: 12) { editor } }'),
      query('{ fast(id: 12) { editor } late(id: 11) { author } }'),
    ]);
    expect([a.body.data, b.body.data]).toEqual([
      { fast: [{ author: 'author 11' }], late: [{ editor: 'editor 12' }] },
      { fast: [{ editor: 'editor 12' }], late: [{ author: 'author 11' }] },
    ]);
    const ran = { ...runs };
    await query('{ fast(id: 11) { author } late(id: 12) { editor } }');
    expect(runs).toEqual(ran); // both entries were stored: no field runs again
  });

  it("a list of 20 cached fields waits on its response with one 'close' listener (Node warns past ten)", async () => {
    const writeHead = ServerResponse.prototype.writeHead;
    let closeListeners = 0;
    ServerResponse.prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      closeListeners = Math.max(closeListeners, this.listenerCount('close'));
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof writeHead;
    try {
      const answer = await query('{ many { author } }');
      expect(answer.body.data.many).toHaveLength(20);
      expect(closeListeners).toBeLessThan(10); // was one per waiting entry: 20 and more
      await query('{ many { author } }');
      expect(runs.author).toBe(20); // every entry was stored once the response's headers went out
    } finally {
      ServerResponse.prototype.writeHead = writeHead;
    }
  });

  // Found by review of the first fix, which refused a detached computation's values to every waiter:
  // a field that joined before the detach then waited for its own response (5 s) and ran again.
  it('an alias that joined before an invalidation takes the values it joined: one run, and the response is not held', async () => {
    const answer = query('{ wrap { a: gated b: gated } }').then((r) => r);
    await until(() => runs.gated === 1);
    await new Promise((r) => setTimeout(r, 50)); // b has joined a's computation
    await app.get(InvalidationService).invalidateTags(['k']);
    resolverGate.open();
    expect([(await answer).body.data, runs.gated]).toEqual([{ wrap: { a: 'run 1', b: 'run 1' } }, 1]);
  });

  it('an alias that joined before a refresh replaced the computation takes the values it joined', async () => {
    const answer = query('{ wrap { a: gated b: gated } }').then((r) => r);
    await until(() => runs.gated === 1);
    await new Promise((r) => setTimeout(r, 50));
    const refresh = request(app.getHttpServer())
      .post('/graphql')
      .set('x-cache-mode', 'refresh')
      .send({ query: '{ wrap { gated } }' })
      .then((r) => r);
    await until(() => runs.gated === 2);
    resolverGate.open();
    expect((await answer).body.data).toEqual({ wrap: { a: 'run 1', b: 'run 1' } });
    expect([(await refresh).body.data, runs.gated]).toEqual([{ wrap: { gated: 'run 2' } }, 2]);
  });

  it('a field of the same request that starts after an invalidation resolved gets the new value', async () => {
    const answer = query('{ wrap { a: k } slowWrap { b: k } }').then((r) => r);
    await until(() => runs.k === 1);
    version = 2;
    await app.get(InvalidationService).invalidateTags(['k']);
    slowWrap.open();
    expect((await answer).body.data).toEqual({ wrap: { a: 'v1' }, slowWrap: { b: 'v2' } });
    expect(runs.k).toBe(2);
  });
});

// As the review found it (its repro, kept whole): request 1 computes k2 and holds its entry until
// `slow` answers; k2's tag is invalidated; request 2 holds `other`'s entry when its k2 waits.
const detached = { k2: 0 };

@Resolver(() => Wrap)
class DetachedResolver {
  @Query(() => Wrap)
  async box(): Promise<Wrap> {
    await new Promise((r) => setTimeout(r, 50));
    return { n: 1 };
  }
  @Query(() => Int)
  async lingering(): Promise<number> {
    await new Promise((r) => setTimeout(r, 1500));
    return 1;
  }
  @Query(() => Int)
  @CacheMemoize({ ttl: '1m' })
  async held(): Promise<number> {
    return 5;
  }
  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: () => 'one', requestTags: () => ['k2'] })
  async k2(): Promise<string> {
    detached.k2++;
    return `v${version}`;
  }
}

describe.each(stores)("GraphQL: a detached computation's values (%s)", (_name, makeStore) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await graphqlApp(makeStore(), 'gjd', [DetachedResolver]);
  });
  afterAll(() => app.close());

  it("another request's field does not take them: its resolver runs once, and it gets the new value", async () => {
    detached.k2 = 0;
    version = 1;
    const query = (q: string) => request(app.getHttpServer()).post('/graphql').send({ query: q });
    const first = query('{ box { k2 } lingering }').then((r) => r);
    await until(() => detached.k2 === 1);
    await new Promise((r) => setTimeout(r, 250)); // its entry now waits for `lingering`
    version = 2;
    await app.get(InvalidationService).invalidateTags(['k2']);
    const second = await query('{ held box { k2 } }');
    expect([(await first).body.data.box.k2, second.body.data.box.k2, detached.k2]).toEqual(['v1', 'v2', 2]);
  });
});
