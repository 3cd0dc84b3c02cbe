import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  cacheHandle,
  InvalidationService,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * A caller that started after invalidateTags(resultTag) resolved joins the computation that
 * started before it. If that computation is then detached for any other reason (here: a key
 * invalidation of the same entry, which only cancels the flight), the writer never decides
 * a verdict (then `overtaken`, now `joinable`), so `joined` hands the pre-invalidation value to the late caller.
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

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('joiner of a computation detached after it joined, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('rv-cancel'), [Users]);
  });
  afterEach(() => app.close());

  it.each([
    [
      'a key invalidation of the entry',
      (app: TestingModule) => app.get(InvalidationService).invalidateMethod(Users, 'byResultTags', [1]),
    ],
    [
      'a refresh of the entry (handle.refresh)',
      (app: TestingModule) => {
        void cacheHandle(app.get(Users), 'byResultTags').refresh(1);
        return sleep(5);
      },
    ],
  ] as Array<[string, (app: TestingModule) => Promise<unknown>]>)(
    'detached by %s: a call started after invalidateTags resolved never gets the value computed before it',
    async (_d, detach) => {
      const users = app.get(Users);
      const inv = app.get(InvalidationService);
      db.set(1, 1);
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const reading = new Promise<void>((r) => (entered = r));
      const before = users.byResultTags(1); // reads v=1, waits
      await reading;
      entered = () => undefined;
      db.set(1, 2);
      await inv.invalidateTags(['org:1']); // resolved
      const after = users.byResultTags(1); // starts after it: must see v=2
      await sleep(20); // it has joined the older computation
      gate = Promise.resolve();
      await detach(app); // cancels that computation (flight.cancelled), no verdict is ever given
      open();
      expect((await before).v).toBe(1);
      expect((await after).v).toBe(2);
      await settle(app);
    },
  );
});
