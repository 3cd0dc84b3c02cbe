import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, InvalidationService, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * The verdict for joiners of a result-tagged computation comes from RemoteVersions.extend. When the
 * store cannot answer that read (a blip, a timeout), extend returns undefined, EntryWriter sets
 * the verdict (then `flight.overtaken`, now `flight.joinable`) = false, and a caller that started after invalidateTags(resultTag) resolved and
 * joined the older computation gets its pre-invalidation value ("cannot tell" taken as "fresh").
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
}

let failing = false;
function flaky(store: CacheStore): CacheStore {
  const getMany = store.getMany.bind(store);
  store.getMany = async (keys) => {
    if (failing) throw new Error('blip');
    return getMany(keys);
  };
  return store;
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
});

describe('a store blip at the result-tag verdict, on redis', () => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(flaky(redisStore({ url: servers.redis })), uniquePrefix('rv-blip'), [Users]);
  });
  afterEach(() => {
    failing = false;
    return app.close();
  });

  it('a call started after invalidateTags resolved never gets the value computed before it', async () => {
    const users = app.get(Users);
    const inv = app.get(InvalidationService);
    await users.byResultTags(0); // the tag's record exists
    await settle(app);
    db.set(1, 1);
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const reading = new Promise<void>((r) => (entered = r));
    const before = users.byResultTags(1); // reads v=1, waits
    await reading;
    entered = () => undefined;
    db.set(1, 2);
    await inv.invalidateTags(['org:1']); // resolved
    const after = users.byResultTags(1); // starts after it, joins (checked) the older computation
    await sleep(20);
    failing = true; // the store cannot answer the write-time verdict
    open();
    await before;
    const got = await after;
    failing = false;
    expect(got.v).toBe(2);
    await settle(app);
  });
});
