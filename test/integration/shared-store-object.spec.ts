/**
 * One store object given to several apps in one process: a constant in a shared config, or a test
 * suite's store reused by each test's app. Closing one app must not close the store under another
 * (which then ran uncached and rejected every @CacheEvict); a store closed with its last app opens
 * again for the next app it is given to; the last app to close still closes it.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
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

  it('a store its last app closed works for the next app given it', async () => {
    const store = make();
    stores.push(store);
    const first = await boot(store, uniquePrefix('shared-object'));
    db = 1;
    expect(await first.get(Repo).get(1)).toBe('1 v1');
    await close(first);
    const next = await boot(store, uniquePrefix('shared-object'));
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
