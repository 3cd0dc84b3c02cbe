import 'reflect-metadata';
import { Controller, Injectable, Logger, Param, ParseIntPipe, Post } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import request from 'supertest';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeModule,
  cacheHandle,
  evictCall,
  InvalidateTags,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  type CacheStore,
} from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { drained, settle } from '../support/settle';

const servers = sharedServers();

@Injectable()
class UserService {
  runs = 0;
  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<{ id: number; run: number }> {
    return { id, run: ++this.runs };
  }

  @CacheMemoize({ ttl: '1m', resultTags: (team: { members: number[] }) => team.members.map((m) => `user:${m}`) })
  async getTeam(name: string): Promise<{ name: string; members: number[]; run: number }> {
    return { name, members: [1, 2], run: ++this.runs };
  }
}

@Injectable()
class UserWriter {
  writes = 0;
  @InvalidateTags((id: number) => [`user:${id}`])
  async rename(id: number, fail = false): Promise<number> {
    if (fail) throw new Error('write failed');
    return ++this.writes;
  }

  @CacheEvict({ methods: [evictCall(UserService, 'getUser', (id: number) => [id])] })
  async touch(id: number): Promise<void> {
    this.writes += id * 0;
  }

  @CacheEvict({ tags: (id: number) => [`user:${id}`], before: true })
  async replace(id: number, seen: (cached: boolean) => void, svc: UserService): Promise<void> {
    // Busted before the body runs: the cache is already empty for this user here.
    seen((await cacheHandle(svc, 'getUser').peek(id)) !== undefined);
  }
}

@Controller('users')
class UsersController {
  @Post(':id/rename')
  @CacheEvict({ tags: (id: number) => [`user:${id}`] })
  rename(@Param('id', ParseIntPipe) id: number): { renamed: number } {
    return { renamed: id };
  }
}

async function instance(store: () => CacheStore, prefix: string): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store() }, prefix })],
    providers: [UserService, UserWriter],
  }).compile();
  await app.init();
  return app;
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
])('two app instances sharing one %s', (name, store) => {
  let a: TestingModule;
  let b: TestingModule;
  beforeEach(async () => {
    const prefix = uniquePrefix(name);
    a = await instance(store, prefix);
    b = await instance(store, prefix);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('B reads what A cached, and sees every kind of invalidation the moment it resolves', async () => {
    const ua = a.get(UserService);
    const ub = b.get(UserService);
    const inv = { a: a.get(InvalidationService), b: b.get(InvalidationService) };
    expect((await ua.getUser(1)).run).toBe(1);
    await settle(a); // A's write lands in the background
    expect((await ub.getUser(1)).run).toBe(1);
    expect(ub.runs).toBe(0);

    await inv.b.invalidateTags(['user:1']);
    expect((await ua.getUser(1)).run).toBe(2);
    await settle(a, b);
    expect((await ub.getUser(1)).run).toBe(2);

    await inv.a.invalidateMethod(UserService, 'getUser', [1]);
    expect((await ub.getUser(1)).run).toBe(1); // B computes now (its own counter)
    await settle(a, b);

    await expect(inv.a.invalidateNamespace('UserService.')).rejects.toThrow(
      "namespace \"UserService.\" ends with '.': a namespace is invalidated whole by its name, e.g. 'UserService'.",
    );
    await inv.a.invalidateNamespace('UserService');
    expect((await ub.getUser(1)).run).toBe(2);
    await settle(a, b);

    await inv.b.clear();
    expect((await ua.getUser(1)).run).toBe(3);
  });

  it('tags computed from the result bust across instances', async () => {
    const ua = a.get(UserService);
    expect((await ua.getTeam('core')).run).toBe(1);
    await settle(a, b);
    expect((await b.get(UserService).getTeam('core')).run).toBe(1);
    await b.get(InvalidationService).invalidateTags(['user:2']);
    expect((await ua.getTeam('core')).run).toBe(2);
  });

  it('@InvalidateTags on one instance busts the other after the write succeeds, not when it throws', async () => {
    const ua = a.get(UserService);
    expect((await ua.getUser(5)).run).toBe(1);
    await settle(a, b);
    await expect(b.get(UserWriter).rename(5, true)).rejects.toThrow('write failed');
    expect((await ua.getUser(5)).run).toBe(1);
    await b.get(UserWriter).rename(5);
    expect((await ua.getUser(5)).run).toBe(2);
  });
});

describe('clock skew between hosts', () => {
  const policy = (tag: string) => testPolicy({ ttlMs: 60_000, deps: [tag] });

  /** Host B's clock runs `skewMs` ahead of A's; A invalidates right after B cached a value. */
  async function scenario(store: () => CacheStore, skewMs: number): Promise<number> {
    const prefix = uniquePrefix('skew');
    const tag = `${prefix}:~tag:t`;
    const [storeA, storeB] = [store(), store()];
    await Promise.all([storeA.ready?.(5_000), storeB.ready?.(5_000)]);
    const b = new Memoizer(storeB, { prefix, now: () => Date.now() + skewMs });
    const a = new Memoizer(storeA, { prefix, now: () => Date.now() });
    let runs = 0;
    await b.getOrSet(`${prefix}:k`, async () => ++runs, policy(tag));
    await drained(b);
    await a.invalidateDeps([tag]);
    const after = await b.getOrSet(`${prefix}:k`, async () => ++runs, policy(tag));
    await a.close();
    await b.close();
    await a.store.disconnect();
    await b.store.disconnect();
    return after;
  }

  it.each([
    ['Redis', () => redisStore({ url: servers.redis })],
    ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ])('%s: invalidation does not read clocks, so a host 3 s ahead (or behind) still sees it', async (_name, store) => {
    expect(await scenario(store, 3_000)).toBe(2);
    expect(await scenario(store, -3_000)).toBe(2);
  });
});

describe('write decorators and method handles (memory store)', () => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() } })],
      providers: [UserService, UserWriter],
      controllers: [UsersController],
    }).compile();
    await app.init();
  });
  afterEach(() => app.close());

  it('@CacheEvict busts memoized calls by method + args, and before the method with before: true', async () => {
    const users = app.get(UserService);
    const writer = app.get(UserWriter);
    await users.getUser(3);
    await writer.touch(3);
    expect((await users.getUser(3)).run).toBe(2);
    await users.getUser(4);
    let cachedInside: boolean | undefined;
    await writer.replace(4, (c) => (cachedInside = c), users);
    expect(cachedInside).toBe(false);
  });

  it('@CacheEvict on a controller handler gets the handler arguments', async () => {
    const http = app.createNestApplication({ logger: false });
    await http.init();
    const users = http.get(UserService);
    await users.getUser(9);
    expect((await users.getUser(9)).run).toBe(1);
    await request(http.getHttpServer()).post('/users/9/rename').expect(201, { renamed: 9 });
    expect((await users.getUser(9)).run).toBe(2);
    await http.close();
  });

  it('method handles: keyOf, peek, refresh, invalidate, original', async () => {
    const users = app.get(UserService);
    const handle = cacheHandle(users, 'getUser');
    expect(handle.keyOf(1)).toBe('cm:UserService.getUser:0:1');
    expect(await handle.peek(1)).toBeUndefined();
    await users.getUser(1);
    expect(await handle.peek(1)).toEqual({ value: { id: 1, run: 1 } });
    expect(await handle.refresh(1)).toEqual({ id: 1, run: 2 });
    expect(await users.getUser(1)).toEqual({ id: 1, run: 2 });
    expect(await handle.original(1)).toEqual({ id: 1, run: 3 });
    expect(await users.getUser(1)).toEqual({ id: 1, run: 2 }); // original() does not store
    await handle.invalidate(1);
    expect(await handle.peek(1)).toBeUndefined();
    expect(() => cacheHandle(new UserService(), 'getUser')).toThrow(
      /UserService.getUser is not memoized on this instance/,
    );
    // @ts-expect-error not a method name
    expect(() => cacheHandle(users, 'nope')).toThrow();
  });
});
