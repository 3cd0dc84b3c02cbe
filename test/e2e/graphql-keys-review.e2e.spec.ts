/*
 * GraphQL keys under review (lib/interceptor/graphql-key.ts). A "look-ahead" Query resolver reads
 * `info` and loads only the requested columns, as join-monster / PostGraphile-style resolvers do:
 * a subfield with arguments is loaded per response key (alias), and a child resolver reads it back
 * by `info.path.key`. Every second request must get what an uncached server answers. Found by
 * review and fixed: aliases were not keyed (a swapped or renamed alias got the first request's
 * values), nor directives on the cached field or the operation; a diamond of fragments made key
 * building exponential (5 s of blocked event loop for 880 bytes of query); a `parentKey` that
 * returned undefined merged every parent.
 */
import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Args,
  Context,
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
import { ExpressAdapter } from '@nestjs/platform-express';
import {
  DirectiveLocation,
  getDirectiveValues,
  GraphQLDirective,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  GraphQLString,
  valueFromASTUntyped,
  type GraphQLResolveInfo,
  type SelectionNode,
} from 'graphql';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule, type CacheRequest, InvalidationService, memoryStore } from '../../lib';
import { MAX_SELECTIONS } from '../../lib/interceptor/graphql-key';

const runs: Record<string, number> = {};
const count = (n: string) => (runs[n] = (runs[n] ?? 0) + 1);

@ObjectType()
class Author {
  @Field(() => Int) id!: number;
  @Field({ nullable: true }) name?: string;
  @Field({ nullable: true }) bio?: string;
}

@ObjectType()
class Post {
  @Field(() => Int) id!: number;
  @Field({ nullable: true }) title?: string;
  @Field({ nullable: true }) secret?: string;
  @Field(() => Author, { nullable: true }) author?: Author;
  @Field(() => String, { nullable: true }) stamp?: string;
  byAlias?: Record<string, string>;
}

type Wanted = Map<string, { name: string; args: Record<string, unknown>; sub?: Wanted }>;

/** What a look-ahead resolver reads from `info`: response key -> field, with @include/@skip evaluated. */
function lookahead(selections: readonly SelectionNode[], info: GraphQLResolveInfo, out: Wanted = new Map()): Wanted {
  for (const s of selections) {
    const vars = info.variableValues;
    if (getDirectiveValues(GraphQLSkipDirective, s, vars)?.if === true) continue;
    if (getDirectiveValues(GraphQLIncludeDirective, s, vars)?.if === false) continue;
    if (s.kind === 'Field') {
      const args: Record<string, unknown> = {};
      for (const a of s.arguments ?? []) args[a.name.value] = valueFromASTUntyped(a.value, vars);
      const prev = out.get(s.alias?.value ?? s.name.value);
      const sub = s.selectionSet ? lookahead(s.selectionSet.selections, info, prev?.sub ?? new Map()) : undefined;
      out.set(s.alias?.value ?? s.name.value, { name: s.name.value, args, sub });
    } else if (s.kind === 'InlineFragment') lookahead(s.selectionSet.selections, info, out);
    else lookahead(info.fragments[s.name.value].selectionSet.selections, info, out);
  }
  return out;
}

const BODY = 'Hello world, this is the body';

function loadPost(id: number, wanted: Wanted): Post {
  const row: Post = { id };
  for (const [key, f] of wanted) {
    if (f.name === 'title') row.title = `title ${id}`;
    if (f.name === 'secret') row.secret = `secret ${id}`;
    if (f.name === 'excerpt') (row.byAlias ??= {})[key] = BODY.slice(0, Number(f.args.len));
    if (f.name === 'author') {
      const a: Author = { id: 100 + id };
      for (const [, g] of f.sub ?? new Map()) {
        if (g.name === 'name') a.name = `author ${100 + id}`;
        if (g.name === 'bio') a.bio = `bio ${100 + id}`;
      }
      row.author = a;
    }
  }
  return row;
}

let stampVersion = 1;

@Resolver(() => Post)
class PostResolver {
  @Query(() => [Post])
  @CacheMemoize({ ttl: '1m' })
  posts(@Info() info: GraphQLResolveInfo): Post[] {
    count('posts');
    const wanted = new Map() as Wanted;
    for (const node of info.fieldNodes) lookahead(node.selectionSet!.selections, info, wanted);
    return [loadPost(1, wanted)];
  }

  /** Not cached: reads back what the look-ahead loaded for its response key (alias). */
  @ResolveField(() => String, { nullable: true })
  excerpt(
    @Parent() p: Post,
    @Args('len', { type: () => Int }) _len: number,
    @Info() info: GraphQLResolveInfo,
  ): string | null {
    return p.byAlias?.[String(info.path.key)] ?? null;
  }

  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: (p: Post) => p.id, requestTags: () => ['stamp'] })
  stamp(): string {
    count('stamp');
    return `stamp v${stampVersion}`;
  }

  /** No look-ahead (the one above expands each fragment once per path, as key building did). */
  @Query(() => [Post])
  @CacheMemoize({ ttl: '1m' })
  catalog(): Post[] {
    count('catalog');
    return [{ id: 1, title: 'title 1' }];
  }

  @Query(() => Post)
  plainPost(): Post {
    return { id: 7 };
  }

  @Mutation(() => Post)
  touch(): Post {
    count('touch');
    stampVersion++;
    return { id: 7 };
  }

  /** Reads a directive on its own field (a locale the client asks for). */
  @Query(() => String)
  @CacheMemoize({ ttl: '1m' })
  greeting(@Info() info: GraphQLResolveInfo): string {
    count('greeting');
    const lang =
      info.fieldNodes[0].directives?.find((d) => d.name.value === 'lang') ??
      info.operation.directives?.find((d) => d.name.value === 'lang');
    const code = lang ? valueFromASTUntyped(lang.arguments![0].value, info.variableValues) : 'en';
    return code === 'fr' ? 'bonjour' : 'hello';
  }
}

@ObjectType()
class Book {
  @Field(() => Int, { nullable: true }) id?: number;
  @Field(() => String) authorName!: string;
  authorId!: number;
}

@Resolver(() => Book)
class ParentKeyResolver {
  @Query(() => [Book])
  books(@Info() info: GraphQLResolveInfo): Array<Partial<Book>> {
    const wanted = lookahead(info.fieldNodes[0].selectionSet!.selections, info);
    // Loads the columns asked for, plus what field resolvers need (authorId).
    return [1, 2].map((n) => ({ ...(wanted.has('id') ? { id: n } : {}), authorId: 10 * n }));
  }

  @ResolveField(() => String)
  @CacheMemoize({ ttl: '1m', parentKey: (b: Book) => b.id })
  authorName(@Parent() b: Book): string {
    count('authorName');
    return `author ${b.authorId}`;
  }
}

const langDirective = new GraphQLDirective({
  name: 'lang',
  locations: [DirectiveLocation.FIELD, DirectiveLocation.QUERY, DirectiveLocation.FRAGMENT_SPREAD],
  args: { code: { type: GraphQLString } },
});

/** Each fragment spreads the next twice: graphql-js runs it in linear time (it expands a fragment once per level). */
function diamond(levels: number, spreads: [string, string]): string {
  let s = '{ catalog { ...F0 } }\n';
  for (let i = 0; i < levels; i++)
    s += `fragment F${i} on Post { ...F${i + 1} ${spreads[0]} ...F${i + 1} ${spreads[1]} }\n`;
  return s + `fragment F${levels} on Post { id title }\n`;
}

async function graphqlApp(): Promise<INestApplication> {
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: memoryStore() } }),
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        autoSchemaFile: true,
        fieldResolverEnhancers: ['interceptors'],
        allowBatchedHttpRequests: true,
        buildSchemaOptions: { directives: [langDirective] },
      }),
    ],
    providers: [PostResolver, ParentKeyResolver],
  })
  class M {}
  const app = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe('review: GraphQL keys', () => {
  let app: INestApplication;
  const gql = (query: string, variables?: object, operationName?: string) =>
    request(app.getHttpServer()).post('/graphql').send({ query, variables, operationName });
  beforeAll(async () => {
    app = await graphqlApp();
  });
  afterAll(() => app.close());
  beforeEach(async () => {
    await app.get(InvalidationService).clear();
    for (const k of Object.keys(runs)) delete runs[k];
    stampVersion = 1;
  });

  /** The second request's answer must be what an uncached server answers. */
  const pairs: Array<[string, string, object | undefined, string, object | undefined]> = [
    [
      '@include on a subfield',
      'query Q($v: Boolean!) { posts { id secret @include(if: $v) } }',
      { v: false },
      'query Q($v: Boolean!) { posts { id secret @include(if: $v) } }',
      { v: true },
    ],
    [
      '@skip on a subfield',
      'query Q($v: Boolean!) { posts { id secret @skip(if: $v) } }',
      { v: true },
      'query Q($v: Boolean!) { posts { id secret @skip(if: $v) } }',
      { v: false },
    ],
    [
      '@include on a fragment spread',
      'query Q($v: Boolean!) { posts { id ...S @include(if: $v) } } fragment S on Post { secret }',
      { v: false },
      'query Q($v: Boolean!) { posts { id ...S @include(if: $v) } } fragment S on Post { secret }',
      { v: true },
    ],
    [
      '@include on an inline fragment',
      'query Q($v: Boolean!) { posts { id ... @include(if: $v) { secret } } }',
      { v: false },
      'query Q($v: Boolean!) { posts { id ... @include(if: $v) { secret } } }',
      { v: true },
    ],
    [
      'nested levels',
      'query Q($v: Boolean!) { posts { id author { id ... @include(if: $v) { ...A } } } } fragment A on Author { ... on Author { bio name } }',
      { v: false },
      'query Q($v: Boolean!) { posts { id author { id ... @include(if: $v) { ...A } } } } fragment A on Author { ... on Author { bio name } }',
      { v: true },
    ],
    [
      'default value',
      'query Q($v: Boolean = false) { posts { id secret @include(if: $v) } }',
      {},
      'query Q($v: Boolean = false) { posts { id secret @include(if: $v) } }',
      { v: true },
    ],
    [
      'field merging with two directives',
      'query Q($a: Boolean!, $b: Boolean!) { posts { id secret @include(if: $a) secret @include(if: $b) } }',
      { a: false, b: false },
      'query Q($a: Boolean!, $b: Boolean!) { posts { id secret @include(if: $a) secret @include(if: $b) } }',
      { a: false, b: true },
    ],
    ['root field merging', '{ posts { id } }', undefined, '{ posts { id } posts { title } }', undefined],
    [
      'aliased subfield args',
      '{ posts { a: excerpt(len: 1) b: excerpt(len: 5) } }',
      undefined,
      '{ posts { a: excerpt(len: 5) b: excerpt(len: 1) } }',
      undefined,
    ],
    ['alias renamed', '{ posts { x: excerpt(len: 5) } }', undefined, '{ posts { y: excerpt(len: 5) } }', undefined],
    [
      'variable in subfield args',
      'query Q($n: Int!) { posts { excerpt(len: $n) } }',
      { n: 1 },
      'query Q($n: Int!) { posts { excerpt(len: $n) } }',
      { n: 5 },
    ],
  ];

  it.each(pairs)('%s: the second request gets its own answer', async (_name, q1, v1, q2, v2) => {
    const first = await gql(q1, v1);
    expect(first.body.errors).toBeUndefined();
    await app.get(InvalidationService).clear();
    const expected = (await gql(q2, v2)).body; // computed, uncached by the first
    await app.get(InvalidationService).clear();
    await gql(q1, v1); // the first request's answer is cached
    const second = await gql(q2, v2);
    expect(second.body).toEqual(expected);
  });

  it('a directive on the cached field itself, read by its resolver, is keyed', async () => {
    const en = await gql('{ greeting }');
    const fr = await gql('{ greeting @lang(code: "fr") }');
    expect(en.body.data.greeting).toBe('hello');
    expect(fr.body.data.greeting).toBe('bonjour');
  });

  it('an operation-level directive read by the resolver is keyed', async () => {
    await gql('query A { greeting }');
    const fr = await gql('query B @lang(code: "fr") { greeting }');
    expect(fr.body.errors).toBeUndefined();
    expect(fr.body.data.greeting).toBe('bonjour');
  });

  it('automatic persisted queries (hash only, over GET) answer like the full query', async () => {
    const { createHash } = await import('node:crypto');
    const q = '{ posts { id secret } }';
    const ext = { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(q).digest('hex') } };
    await request(app.getHttpServer()).post('/graphql').send({ query: q, extensions: ext });
    const hashOnly = await request(app.getHttpServer())
      .get('/graphql')
      .query({ extensions: JSON.stringify(ext) })
      .set('apollo-require-preflight', '1');
    expect(hashOnly.body.data.posts[0]).toEqual({ id: 1, secret: 'secret 1' });
    expect(runs.posts).toBe(1);
  });

  it('a document with a query and a mutation: operationName picks the mutation, which is never cached', async () => {
    const doc = 'query Read { plainPost { id stamp } } mutation Write { touch { id stamp } }';
    expect((await gql(doc, undefined, 'Read')).body.data.plainPost.stamp).toBe('stamp v1');
    expect((await gql(doc, undefined, 'Write')).body.data.touch.stamp).toBe('stamp v2');
    expect((await gql(doc, undefined, 'Read')).body.data.plainPost.stamp).toBe('stamp v1'); // the cached entry
    expect(runs.stamp).toBe(2);
  });

  it('GET queries and persisted queries share the POST entry and stay correct', async () => {
    const q = '{ posts { id title } }';
    const get = await request(app.getHttpServer())
      .get('/graphql')
      .query({ query: q })
      .set('apollo-require-preflight', '1');
    expect(get.body.data.posts[0].title).toBe('title 1');
    const post = await gql(q);
    expect(post.body).toEqual(get.body);
    expect(runs.posts).toBe(1);
    const narrow = await request(app.getHttpServer())
      .get('/graphql')
      .query({ query: '{ posts { id } }' })
      .set('apollo-require-preflight', '1');
    expect(narrow.body.data.posts[0]).toEqual({ id: 1 });
    expect(runs.posts).toBe(2);
  });

  it('a batch: identical fields share, different selections do not', async () => {
    const batch = await request(app.getHttpServer())
      .post('/graphql')
      .send([
        { query: '{ posts { id title } }' },
        { query: '{ posts { id title } }' },
        { query: '{ posts { id secret } }' },
        { query: 'mutation { touch { id stamp } }' },
      ]);
    expect(batch.body[0].data.posts[0].title).toBe('title 1');
    expect(batch.body[1].data.posts[0].title).toBe('title 1');
    expect(batch.body[2].data.posts[0].secret).toBe('secret 1');
    expect(batch.body[3].data.touch.stamp).toBe('stamp v2');
  });

  it('a parentKey that names no parent (the client did not select the id) leaves the field uncached, never merged', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await gql('{ books { authorName } }');
      expect(r.body.data.books).toEqual([{ authorName: 'author 10' }, { authorName: 'author 20' }]);
    }
    expect(runs.authorName).toBe(4);
    const withId = await gql('{ books { id authorName } }');
    expect(withId.body.data.books).toEqual([
      { id: 1, authorName: 'author 10' },
      { id: 2, authorName: 'author 20' },
    ]);
    await gql('{ books { id authorName } }');
    expect(runs.authorName).toBe(6); // with the id: cached per parent
  });

  /** Asks twice; each answer is the catalog, cached or not. */
  const catalogTwice = async (q: string) => {
    for (let i = 0; i < 2; i++) {
      const r = await gql(q);
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data.catalog).toEqual([{ id: 1, title: 'title 1' }]);
    }
  };

  it('a diamond of 40 fragments (spreads under @include/@skip that select) is keyed, and cached', async () => {
    const q = diamond(40, ['@include(if: true)', '@skip(if: false)']);
    await catalogTwice(q);
    expect(runs.catalog).toBe(1);
  });

  it(`a diamond whose spreads differ (a directive) past ${MAX_SELECTIONS} selections is served uncached`, async () => {
    const q = diamond(40, ['@lang(code: "a")', '@lang(code: "b")']);
    await catalogTwice(q);
    expect(runs.catalog).toBe(2);
    const small = diamond(3, ['@lang(code: "a")', '@lang(code: "b")']); // 2^3 paths: keyed
    await gql(small);
    await gql(small);
    expect(runs.catalog).toBe(3);
  });
});

/* ---------- vary with and without context.req ---------- */

@Resolver()
class MeResolver {
  @Query(() => String)
  @CacheMemoize({ ttl: '1m', vary: (r: CacheRequest) => (r.user as { id?: string } | undefined)?.id })
  me(@Context() ctx: { user?: { id: string } }): string {
    count('me');
    return `me:${ctx.user?.id ?? 'anon'}`;
  }
  @Query(() => String)
  @CacheMemoize({ ttl: '1m' })
  meNoVary(@Context() ctx: { user?: { id: string } }): string {
    count('meNoVary');
    return `me:${ctx.user?.id ?? 'anon'}`;
  }
}

describe('review: vary on GraphQL, context without req', () => {
  let app: INestApplication;
  beforeAll(async () => {
    @Module({
      imports: [
        CacheMemoizeModule.forRoot({ stores: { default: memoryStore() } }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          context: ({ req }: { req: { headers: Record<string, string> } }) => ({
            user: req.headers['x-user'] ? { id: req.headers['x-user'] } : undefined,
          }),
        }),
      ],
      providers: [MeResolver],
    })
    class M {}
    app = await NestFactory.create(M, new ExpressAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const as = (user: string | undefined, q: string) => {
    const r = request(app.getHttpServer()).post('/graphql').send({ query: q });
    return user ? r.set('x-user', user) : r;
  };

  it('per user, never shared', async () => {
    expect((await as('a', '{ me }')).body.data.me).toBe('me:a');
    expect((await as('b', '{ me }')).body.data.me).toBe('me:b');
    expect((await as('a', '{ me }')).body.data.me).toBe('me:a');
    expect((await as(undefined, '{ me }')).body.data.me).toBe('me:anon');
    expect((await as('a', '{ meNoVary }')).body.data.meNoVary).toBe('me:a');
    expect((await as('b', '{ meNoVary }')).body.data.meNoVary).toBe('me:b');
    expect((await as(undefined, '{ meNoVary }')).body.data.meNoVary).toBe('me:anon');
    expect((await as('b', '{ meNoVary }')).body.data.meNoVary).toBe('me:b');
    expect(runs.me).toBe(3); // a and b cached apart; anonymous without req is private: uncached
  });
});
