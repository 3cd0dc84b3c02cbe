import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  cacheContext,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;
let computations = 0;
type Row = { id: number; org: number };

@Injectable()
class Users {
  delay = 0;
  @CacheMemoize({ ttl: '1m', resultTags: (u: Row) => [`org:${u.org}`] })
  async plain(id: number): Promise<Row> {
    await this.pause();
    return { id, org: 1 };
  }
  @CacheMemoize({ ttl: '1m', lock: true, resultTags: (u: Row) => [`org:${u.org}`] })
  async locked(id: number): Promise<Row> {
    await this.pause();
    return { id, org: 1 };
  }
  @CacheMemoize({ ttl: '1m', grace: '1m', staleIfError: '1m' })
  async added(id: number): Promise<Row> {
    cacheContext().addTags('org:1');
    await this.pause();
    return { id, org: 1 };
  }
  @CacheMemoizeMany({ ttl: '1m', resultTags: (u: Row) => [`org:${u.org}`] })
  async many(ids: number[]): Promise<Row[]> {
    await this.pause();
    return ids.map((id) => ({ id, org: 1 }));
  }
  private async pause(): Promise<void> {
    computations++;
    entered();
    await gate;
    if (this.delay > 0) await sleep(Math.random() * this.delay);
  }
}

type Read = (u: Users) => Promise<Row>;
const reads: Array<[string, Read]> = [
  ['plain', (u) => u.plain(1)],
  ['lock', (u) => u.locked(1)],
  ['addTags+grace+staleIfError', (u) => u.added(1)],
  ['many', async (u) => (await u.many([1]))[0]],
];

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('joiners of an overtaken computation, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('rv-stamp'), [Users]);
    computations = 0;
    gate = Promise.resolve();
    entered = () => undefined;
  });
  afterEach(() => app.close());

  it.each(reads)('%s: share one new computation under continuous invalidation, and finish', async (_r, read) => {
    const users = app.get(Users);
    const invalidation = app.get(InvalidationService);
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const reading = new Promise<void>((r) => (entered = r));
    const first = read(users);
    await reading;
    entered = () => undefined;
    const joiners = Array.from({ length: 19 }, () => read(users));
    await sleep(10);
    await invalidation.invalidateTags(['org:1']);
    computations = 0;
    users.delay = 5;
    let invalidating = true;
    const churn = (async () => {
      while (invalidating) {
        await invalidation.invalidateTags(['org:1']);
        await sleep(1);
      }
    })();
    gate = Promise.resolve();
    open();
    try {
      await first;
      const got = await Promise.race([Promise.all(joiners), sleep(5000).then(() => 'hang' as const)]);
      expect(got).not.toBe('hang');
      expect(computations).toBe(1);
    } finally {
      invalidating = false;
      await churn;
      users.delay = 0;
    }
  });
});
