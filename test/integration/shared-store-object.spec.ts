/**
 * One store object given to several apps in one process: a constant in a shared config, or a test
 * suite's store reused by each test's app. Closing one app must not close the store under another
 * (which then ran uncached and rejected every @CacheEvict); a store closed with its last app opens
 * again for the next app it is given to; the last app to close still closes it.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeModule,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
  type RedisStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
let db = 0;

@Injectable()
class Repo {
  runs = 0;
  @CacheMemoize({ ttl: '1h', tags: ['repo'] })
  async get(id: number): Promise<string> {
    this.runs++;
    return `${id} v${db}`;
  }

  @CacheEvict({ tags: ['repo'] })
  async set(v: number): Promise<void> {
    db = v;
  }
}

const opened: TestingModule[] = [];
const stores: CacheStore[] = [];
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
afterEach(async () => {
  for (const app of opened.splice(0)) await app.close();
  for (const store of stores.splice(0)) await store.disconnect();
});

async function boot(store: CacheStore, prefix: string): Promise<TestingModule> {
  const app = await appOn(store, prefix, [Repo]);
  opened.push(app);
  return app;
}

async function close(app: TestingModule): Promise<void> {
  opened.splice(opened.indexOf(app), 1);
  await app.close();
}

const kinds: Array<[string, () => CacheStore]> = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['redis cluster', () => redisStore({ cluster: servers.cluster })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
];

describe.each(kinds)('one %s store object, several apps', (_kind, make) => {
  it('closing one app leaves the store working for the other (hits, and busts that resolve)', async () => {
    const store = make();
    stores.push(store);
    const prefix = uniquePrefix('shared-object');
    const a = await boot(store, prefix);
    const b = await boot(store, prefix);
    db = 1;
    expect(await a.get(Repo).get(1)).toBe('1 v1');
    expect(await b.get(Repo).get(1)).toBe('1 v1');
    const runs = b.get(Repo).runs;
    await close(a);
    expect(await b.get(Repo).get(1)).toBe('1 v1');
    expect(b.get(Repo).runs).toBe(runs); // still a hit: the entries were not dropped with a
    await expect(b.get(Repo).set(2)).resolves.toBeUndefined();
    expect(await b.get(Repo).get(1)).toBe('1 v2');
    expect(b.get(Repo).runs).toBe(runs + 1);
  });

  it('a store its last app closed works for the next app given it, which boots without a warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const store = make();
    stores.push(store);
    const first = await boot(store, uniquePrefix('shared-object'));
    db = 1;
    expect(await first.get(Repo).get(1)).toBe('1 v1');
    await close(first);
    const next = await boot(store, uniquePrefix('shared-object'));
    // memcached: its QUIT left unanswered, the next app's probe went to a closing socket ('not reachable').
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([]);
    warn.mockRestore();
    const repo = next.get(Repo);
    expect(await repo.get(1)).toBe('1 v1');
    expect(await repo.get(1)).toBe('1 v1');
    expect(repo.runs).toBe(1);
    await expect(repo.set(3)).resolves.toBeUndefined();
    expect(await repo.get(1)).toBe('1 v3');
    expect(repo.runs).toBe(2);
  });
});

it('the last app to close closes the Redis connection the store opened', async () => {
  const store = redisStore({ url: servers.redis });
  const prefix = uniquePrefix('shared-object');
  const a = await boot(store, prefix);
  const b = await boot(store, prefix);
  const client = (store as RedisStore & { client: { status: string } }).client;
  await close(a);
  expect(client.status).toBe('ready');
  await close(b);
  expect(client.status).toBe('end');
});

it('one store under two names of one app is closed once, when the app closes', async () => {
  const store = redisStore({ url: servers.redis });
  const disconnect = jest.spyOn(store, 'disconnect');
  const app = await (
    await import('@nestjs/testing')
  ).Test.createTestingModule({
    imports: [
      (await import('../../lib')).CacheMemoizeModule.forRoot({
        stores: { default: store, other: store },
        prefix: uniquePrefix('shared-object'),
      }),
    ],
  }).compile();
  await app.init();
  await app.close();
  expect(disconnect).toHaveBeenCalledTimes(1);
  expect((store as RedisStore & { client: { status: string } }).client.status).toBe('end');
});

const status = (store: CacheStore) => (store as RedisStore & { client: { status: string } }).client.status;

async function compile(store: CacheStore, prefix: string): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix })],
    providers: [Repo],
  }).compile();
  opened.push(app);
  return app;
}

describe('one store inside another', () => {
  it.each([
    ['the Redis store itself', (redis: CacheStore) => redis],
    ['another tiered store over it', (redis: CacheStore) => tieredStore(memoryStore(), redis)],
  ])('an app on %s keeps it when an app on a tiered store over it closes', async (_what, wrap) => {
    const redis = redisStore({ url: servers.redis });
    stores.push(redis);
    const a = await boot(tieredStore(memoryStore(), redis), uniquePrefix('shared-object'));
    const b = await boot(wrap(redis), uniquePrefix('shared-object'));
    db = 1;
    await b.get(Repo).get(1);
    await close(a);
    const repo = b.get(Repo);
    expect(await repo.get(1)).toBe('1 v1');
    expect(repo.runs).toBe(1);
    await expect(repo.set(2)).resolves.toBeUndefined();
    expect(status(redis)).toBe('ready');
  });
});

describe('apps coming and going around one store', () => {
  it('Redis: the next app, initialized while the last one is still closing, gets a working store', async () => {
    const store = redisStore({ url: servers.redis });
    stores.push(store);
    const prefix = uniquePrefix('shared-object');
    const a = await compile(store, prefix);
    await a.init();
    opened.splice(opened.indexOf(a), 1);
    const closing = a.close(); // not awaited: its QUIT is under way while b starts
    const b = await compile(store, prefix);
    await b.init();
    await closing;
    db = 1;
    const repo = b.get(Repo);
    expect(await repo.get(1)).toBe('1 v1');
    expect(await repo.get(1)).toBe('1 v1');
    expect(repo.runs).toBe(1);
    await expect(repo.set(2)).resolves.toBeUndefined();
    expect(status(store)).toBe('ready');
  });

  it('tiered: an app compiled before the last one closed keeps its invalidation bus', async () => {
    const store = tieredStore(memoryStore(), redisStore({ url: servers.redis }));
    stores.push(store);
    const prefix = uniquePrefix('shared-object');
    const a = await compile(store, prefix);
    await a.init();
    const b = await compile(store, prefix); // its engine (and bus protocol) exist: it uses the store
    await close(a);
    await b.init();
    expect(await store.bus!.whenUp!(2_000)).toBe(true);
  });

  it('memcached: a request right after disconnect() settles (it waited on a socket the server closed)', async () => {
    const store = memcachedStore({ servers: servers.memcached.join(',') });
    await store.set('shared-object:k', new Uint8Array([1]), 10_000);
    await store.disconnect();
    const outcome = await Promise.race([
      store.get('shared-object:k').then(
        () => 'settled',
        () => 'settled',
      ),
      new Promise((resolve) => setTimeout(() => resolve('pending after 3 s'), 3_000)),
    ]);
    await store.disconnect();
    expect(outcome).toBe('settled');
  });
});

describe('a tiered store shared by two apps, one of which closes', () => {
  /**
   * The closed app's bus listener stayed on the shared connection and acknowledged invalidations:
   * one connection counts once in PUBLISH's receivers, its two acks stood in for a frozen
   * instance's, so an evict resolved before that instance applied it and it served its old copy.
   */
  it('an evict still waits for a frozen instance, which then serves the new value', async () => {
    const tiered = () => {
      const store = tieredStore(memoryStore(), redisStore({ url: servers.redis }), { lease: '1s' });
      stores.push(store);
      return store;
    };
    const shared = tiered();
    const prefix = uniquePrefix('shared-object');
    await boot(shared, uniquePrefix('shared-object')); // keeps the shared store open
    await close(await boot(shared, prefix));
    const writer = (await boot(shared, prefix)).get(Repo);
    const other = tiered(); // another instance: its own connections
    const reader = (await boot(other, prefix)).get(Repo);
    db = 1;
    expect(await reader.get(1)).toBe('1 v1');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the reader holds its lease
    const stream = (other.bus as unknown as { subscriber: { stream: { pause(): void; resume(): void } } }).subscriber
      .stream;
    stream.pause(); // frozen: it neither applies nor acknowledges
    try {
      await writer.set(2);
      expect(await reader.get(1)).toBe('1 v2');
    } finally {
      stream.resume();
    }
    expect((shared.bus as unknown as { listeners: unknown[] }).listeners).toHaveLength(2); // not the closed app's
  }, 30_000);
});
