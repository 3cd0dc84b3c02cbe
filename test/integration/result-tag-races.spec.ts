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
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * Tags known only from a computation's result (`resultTags`, `cacheContext().addTags`, a batch's
 * item tags) against an invalidation of them while it runs. Found by review:
 *  - a write landing between an invalidation's token write and its epoch write read the new token
 *    with the old epoch, recorded it, and the entry computed before the invalidation stayed valid
 *    after it resolved (lib/engine/versions.ts: the epoch now moves before the tokens too, and is
 *    read again after them);
 *  - a call that started after the invalidation resolved joined the computation that started
 *    before it and got its value (lib/engine/flights.ts `joined`: such a caller now runs again).
 */
const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const db = new Map<number, number>();
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined; // told once a computation has read the database
let computations = 0;
type Row = { id: number; v: number; org: number };

@Injectable()
class Users {
  delay = 0;

  @CacheMemoize({ ttl: '1m', resultTags: (u: Row) => [`org:${u.org}`] })
  async byResultTags(id: number): Promise<Row> {
    const out = { id, v: db.get(id) ?? 0, org: 1 };
    await this.pause();
    return out;
  }

  @CacheMemoize({ ttl: '1m' })
  async byAddTags(id: number): Promise<Row> {
    const cache = cacheContext();
    const out = { id, v: db.get(id) ?? 0, org: 1 };
    cache.addTags(`org:${out.org}`); // before the invalidation
    await this.pause();
    return out;
  }

  @CacheMemoize({ ttl: '1m' })
  async byLateAddTags(id: number): Promise<Row> {
    const cache = cacheContext();
    const out = { id, v: db.get(id) ?? 0, org: 1 };
    await this.pause();
    cache.addTags(`org:${out.org}`); // after it
    return out;
  }

  @CacheMemoizeMany({ ttl: '1m', resultTags: (u: Row) => [`org:${u.org}`] })
  async many(ids: number[]): Promise<Row[]> {
    const out = ids.map((id) => ({ id, v: db.get(id) ?? 0, org: 1 }));
    await this.pause();
    return out;
  }

  static tagged = 0;
  @CacheMemoize({ ttl: '1m', resultTags: (u: Row) => (Users.tagged++, [`org:${u.org}`]) })
  async counted(id: number): Promise<Row> {
    return { id, v: db.get(id) ?? 0, org: 1 };
  }

  /** Control: a tag known from the arguments (detached by the invalidation itself). */
  @CacheMemoize({ ttl: '1m', tags: () => ['org:1'] })
  async byArgTags(id: number): Promise<Row> {
    const out = { id, v: db.get(id) ?? 0, org: 1 };
    await this.pause();
    return out;
  }

  private async pause(): Promise<void> {
    computations++;
    entered();
    await gate;
    if (this.delay > 0) await sleep(Math.random() * this.delay);
  }
}

type Read = (u: Users, id: number) => Promise<Row>;
const reads: Array<[string, Read]> = [
  ['resultTags', (u, id) => u.byResultTags(id)],
  ['cacheContext().addTags before the invalidation', (u, id) => u.byAddTags(id)],
  ['cacheContext().addTags after it', (u, id) => u.byLateAddTags(id)],
  ['@CacheMemoizeMany resultTags', async (u, id) => (await u.many([id]))[0]],
];

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});
beforeEach(() => {
  db.clear();
  gate = Promise.resolve();
  entered = () => undefined;
  computations = 0;
});

/** A store whose epoch writes take 150 ms (a slow link): an invalidation's steps land far apart. */
function slowEpoch(store: CacheStore): CacheStore {
  const set = store.set.bind(store);
  store.set = async (key, value, ttl) => {
    if (key.endsWith(':~epoch')) await sleep(150);
    return set(key, value, ttl);
  };
  return store;
}

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
] as Array<[string, () => CacheStore]>)('a result tag invalidated while the write lands, on %s', (_n, make) => {
  let a: TestingModule;
  let b: TestingModule; // the invalidating instance, whose epoch writes are slow
  beforeEach(async () => {
    const prefix = uniquePrefix('rt-window');
    a = await appOn(make(), prefix, [Users]);
    b = await appOn(slowEpoch(make()), prefix, [Users]);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  // 50 ms: before any epoch write has landed; 200 ms: the tokens are written, the last epoch write is not.
  describe.each([50, 200])('the write %i ms into the invalidation', (into) => {
    it.each(reads)('%s: no entry computed before invalidateTags resolved is served after it', async (_r, read) => {
      const users = a.get(Users);
      await read(users, 0); // the tag's version record exists
      await settle(a);
      db.set(1, 1);
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const reading = new Promise<void>((r) => (entered = r));
      const computing = read(users, 1); // reads v=1, then waits
      await reading;
      db.set(1, 2);
      const invalidating = b.get(InvalidationService).invalidateTags(['org:1']);
      await sleep(into);
      open();
      await computing;
      await invalidating; // resolved: nothing computed before it may be served
      await settle(a, b);
      expect((await read(users, 1)).v).toBe(2);
      expect((await read(b.get(Users), 1)).v).toBe(2);
    });
  });
});

describe('two instances on redis racing an invalidation of a result tag', () => {
  let a: TestingModule;
  let b: TestingModule;
  beforeEach(async () => {
    const prefix = uniquePrefix('rt-race');
    a = await appOn(redisStore({ url: servers.redis }), prefix, [Users]);
    b = await appOn(redisStore({ url: servers.redis }), prefix, [Users]);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it.each([reads[0], reads[3]])(
    '%s: up to 150 rounds, never a value from before',
    async (_r, read) => {
      const ua = a.get(Users);
      const ub = b.get(Users);
      const stale: string[] = [];
      const started = Date.now();
      for (let id = 1; id <= 150 && Date.now() - started < 8_000; id++) {
        db.set(id, 1);
        ua.delay = ub.delay = 6;
        const p = read(ua, id);
        const q = read(ub, id);
        await sleep(Math.random() * 6);
        db.set(id, 2);
        await b.get(InvalidationService).invalidateTags(['org:1']);
        await Promise.allSettled([p, q]);
        await settle(a, b);
        ua.delay = ub.delay = 0;
        const got = await read(ua, id);
        if (got.v !== 2) stale.push(`id ${id}: v=${got.v} after invalidateTags resolved`);
      }
      expect(stale).toEqual([]);
    },
    30_000,
  );
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('a call started after the invalidation, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('rt-join'), [Users]);
  });
  afterEach(() => app.close());

  it.each([
    ...reads,
    ['control: a tag from the arguments', (u: Users, id: number) => u.byArgTags(id)] as [string, Read],
  ])('%s: never joins the computation that started before it', async (_r, read) => {
    const users = app.get(Users);
    db.set(1, 1);
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const reading = new Promise<void>((r) => (entered = r));
    const before = read(users, 1); // computing v=1, started before the invalidation
    await reading;
    db.set(1, 2);
    await app.get(InvalidationService).invalidateTags(['org:1']);
    const after = read(users, 1); // starts after it resolved
    await sleep(20);
    open();
    expect((await before).v).toBe(1); // its own caller started before: it gets its value
    expect((await after).v).toBe(2);
    await settle(app);
    expect((await read(users, 1)).v).toBe(2);
  });
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('callers of an overtaken computation, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('rt-retry'), [Users]);
  });
  afterEach(() => app.close());

  it('resultTags runs once per computation: the join check and the write share it', async () => {
    const users = app.get(Users);
    Users.tagged = 0;
    const got = await Promise.all([users.counted(5), users.counted(5), users.counted(5)]);
    await settle(app);
    expect([got.map((r) => r.id), Users.tagged]).toEqual([[5, 5, 5], 1]);
    await users.counted(5); // a hit
    expect(Users.tagged).toBe(1);
  });

  it('run again once, sharing one new computation, even while invalidations continue', async () => {
    const users = app.get(Users);
    const invalidation = app.get(InvalidationService);
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const reading = new Promise<void>((r) => (entered = r));
    const first = users.byResultTags(1);
    await reading;
    const joiners = Array.from({ length: 19 }, () => users.byResultTags(1));
    await invalidation.invalidateTags(['org:1']); // overtakes the first computation
    computations = 0;
    users.delay = 5; // each computation now takes a while, and an invalidation lands in it
    let invalidating = true;
    const churn = (async () => {
      while (invalidating) {
        await invalidation.invalidateTags(['org:1']);
        await sleep(1);
      }
    })();
    open();
    try {
      await first;
      const got = await Promise.all(joiners);
      expect(got.map((r) => r.id)).toEqual(Array(19).fill(1));
      expect(computations).toBe(1); // one new computation for the 19, however often it was overtaken
    } finally {
      invalidating = false;
      await churn;
      users.delay = 0;
    }
  });
});
