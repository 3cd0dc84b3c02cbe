import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * the verdict (then `flight.overtaken`, now `flight.joinable`) is decided by RemoteVersions.extend when the computation ends. The flight stays
 * registered (and joinable) until its entry write lands. An invalidation of the result tag that
 * starts AFTER extend decided "not overtaken" but resolves while the write is still on its way
 * leaves the flight joinable with overtaken === false: a call started after invalidateTags
 * resolved misses (the entry records the old token), joins that flight (joinChecked compares only
 * the tokens read before the factory ran, which have no result tag) and gets the old value.
 * Found by a randomised two-instance race on memcached (its writes are slower); made deterministic
 * here with entry writes that take 150 ms (a slow link, a large value).
 */
const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const db = new Map<number, number>();
type Row = { id: number; v: number; org: number };

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1m', resultTags: (u: Row) => [`org:${u.org}`] })
  async byResultTags(id: number): Promise<Row> {
    return { id, v: db.get(id) ?? 0, org: 1 };
  }
}

/** Entry writes (not version records) take 150 ms. */
function slowEntryWrites(store: CacheStore): CacheStore {
  const set = store.set.bind(store);
  store.set = async (key, value, ttl) => {
    if (!key.includes('~')) await sleep(150);
    return set(key, value, ttl);
  };
  return store;
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['redis', () => slowEntryWrites(redisStore({ url: servers.redis }))],
  ['memcached', () => slowEntryWrites(memcachedStore({ servers: servers.memcached[0] }))],
  ['tiered', () => tieredStore(memoryStore(), slowEntryWrites(redisStore({ url: servers.redis })))],
] as Array<[string, () => CacheStore]>)(
  'an invalidation landing while the entry write is on its way, on %s',
  (_n, make) => {
    let app: TestingModule;
    beforeEach(async () => {
      app = await appOn(make(), uniquePrefix('rv-verdict'), [Users]);
    });
    afterEach(() => app.close());

    it('a call started after invalidateTags resolved does not get the value computed before it', async () => {
      const users = app.get(Users);
      await users.byResultTags(0); // the tag's record exists
      await settle(app);
      db.set(1, 1);
      const before = await users.byResultTags(1); // v=1: computed, verdict "not overtaken", write on its way
      expect(before.v).toBe(1);
      await sleep(20);
      db.set(1, 2);
      await app.get(InvalidationService).invalidateTags(['org:1']); // resolved
      const after = await users.byResultTags(1); // starts after it
      expect(after.v).toBe(2);
      await settle(app);
      expect((await users.byResultTags(1)).v).toBe(2);
    });
  },
);
