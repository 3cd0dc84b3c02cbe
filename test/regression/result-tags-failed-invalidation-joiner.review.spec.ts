import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, InvalidationService, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * FailedInvalidations promises: once an invalidation could not be written, "this instance serves none
 * of the affected entries". For a tag from the arguments the computation under way is detached, so a
 * later call recomputes. For a result tag it is not: a call made after invalidateTags rejected joins
 * the computation that read the database before it; the writer skips the write
 * (failed.affects) but leaves the verdict (then `flight.overtaken`, now `flight.joinable`) = false, so the joiner gets the old value.
 */
const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const db = new Map<number, number>();
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;
type Row = { id: number; v: number; org: number };

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1m', resultTags: (u: Row) => [`org:${u.org}`] })
  async byResultTags(id: number): Promise<Row> {
    const out = { id, v: db.get(id) ?? 0, org: 1 };
    entered();
    await gate;
    return out;
  }

  /** Control: the same with the tag known from the arguments. */
  @CacheMemoize({ ttl: '1m', tags: () => ['org:1'] })
  async byArgTags(id: number): Promise<Row> {
    const out = { id, v: db.get(id) ?? 0, org: 1 };
    entered();
    await gate;
    return out;
  }
}

let failingSets = false;
function flaky(store: CacheStore): CacheStore {
  const set = store.set.bind(store);
  store.set = async (key, value, ttl) => {
    if (failingSets) throw new Error('blip');
    return set(key, value, ttl);
  };
  return store;
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
});

describe('a call after a failed invalidateTags, on redis', () => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(flaky(redisStore({ url: servers.redis })), uniquePrefix('rv-failinv'), [Users]);
  });
  afterEach(() => {
    failingSets = false;
    return app.close();
  });

  it.each([
    ['resultTags', (u: Users, id: number) => u.byResultTags(id)],
    ['control: tags from the arguments', (u: Users, id: number) => u.byArgTags(id)],
  ] as Array<[string, (u: Users, id: number) => Promise<Row>]>)(
    '%s: this instance serves nothing computed before the failed invalidation',
    async (_n, read) => {
      const users = app.get(Users);
      const inv = app.get(InvalidationService);
      await read(users, 0);
      await sleep(50);
      db.set(1, 1);
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const reading = new Promise<void>((r) => (entered = r));
      const before = read(users, 1); // reads v=1, waits
      await reading;
      entered = () => undefined;
      db.set(1, 2);
      failingSets = true;
      await expect(inv.invalidateTags(['org:1'])).rejects.toThrow(/could not record an invalidation/);
      failingSets = false;
      const after = read(users, 1); // starts after the failed invalidation
      await sleep(20);
      gate = Promise.resolve();
      open();
      await before;
      expect((await after).v).toBe(2);
    },
  );
});
