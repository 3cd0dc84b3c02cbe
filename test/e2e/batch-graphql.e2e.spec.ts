/** The README's GraphQL example: a field resolver batching its parents' ids into @CacheMemoizeMany. */
import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { type INestApplication, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Context, Field, GraphQLModule, Int, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import request from 'supertest';
import { CacheMemoizeMany, CacheMemoizeModule, InvalidationService } from '../../lib';

@ObjectType()
class User {
  @Field(() => Int) id!: number;
  @Field() name!: string;
}

@ObjectType()
class Post {
  @Field(() => Int) id!: number;
  @Field(() => Int) authorId!: number;
}

@Injectable()
class UsersService {
  queries: number[][] = [];
  names = new Map<number, string>();

  @CacheMemoizeMany({ ttl: '5m', tags: (id: number) => [`user:${id}`] })
  async getUsers(ids: number[]): Promise<Array<User | null>> {
    this.queries.push([...ids]); // SELECT ... WHERE id IN (...)
    return ids.map((id) => (id > 100 ? null : { id, name: this.names.get(id) ?? `user ${id}` }));
  }
}

@Resolver(() => Post)
class PostResolver {
  constructor(private readonly users: UsersService) {}

  @Query(() => [Post])
  posts(): Post[] {
    return [1, 2, 3, 2, 101, 4].map((authorId, i) => ({ id: i + 1, authorId }));
  }

  @ResolveField(() => User, { nullable: true })
  author(@Parent() post: Post, @Context() ctx: { authors?: DataLoader<number, User | null> }) {
    // One loader per request: the parents' ids of this query, one getUsers call.
    ctx.authors ??= new DataLoader((ids) => this.users.getUsers([...ids]));
    return ctx.authors.load(post.authorId);
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({}),
    GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, context: () => ({}) }),
  ],
  providers: [UsersService, PostResolver],
})
class AppModule {}

describe('@CacheMemoizeMany behind a GraphQL field resolver', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await NestFactory.create(AppModule, { logger: ['error'], abortOnError: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  const authors = async () =>
    (
      await request(app.getHttpServer())
        .post('/graphql')
        .send({ query: '{ posts { id author { id name } } }' })
        .expect(200)
    ).body.data.posts.map((p: { author: { name: string } | null }) => p.author?.name ?? null);

  it('loads the authors of one query in one call, then only the ones not cached', async () => {
    const users = app.get(UsersService);
    expect(await authors()).toEqual(['user 1', 'user 2', 'user 3', 'user 2', null, 'user 4']);
    expect(users.queries).toEqual([[1, 2, 3, 101, 4]]);
    expect(await authors()).toEqual(['user 1', 'user 2', 'user 3', 'user 2', null, 'user 4']);
    expect(users.queries).toHaveLength(1);

    users.names.set(3, 'Carol');
    await app.get(InvalidationService).invalidateTags(['user:3']);
    expect(await authors()).toEqual(['user 1', 'user 2', 'Carol', 'user 2', null, 'user 4']);
    expect(users.queries).toEqual([[1, 2, 3, 101, 4], [3]]);
  });
});
