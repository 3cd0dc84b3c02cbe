/*
 * A stale entry's background refresh starts its method at once, with the versions the lookup judged
 * current (the stale entry's own tokens) as its snapshot, instead of reading them first. That must
 * not let it store a value an invalidation overtook: the method reads the old state, an invalidation
 * of its tag resolves (on this instance or another one on the store), then the method returns. Both
 * ways the lookup can judge the entry are tried: by its header (the epoch it was written under is
 * the current one), and by reading its tokens (an unrelated invalidation moved the epoch since).
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import {
  CacheMemoize,
  InvalidationService,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The source both instances read. */
const db = { version: 0 };

@Injectable()
class Catalog {
  runs = 0;
  /** While set, a computation waits for it after reading the source. */
  gate: Promise<void> | undefined;

  @CacheMemoize({ ttl: 30, grace: '1h', tags: (id: number) => [`item:${id}`] })
  async item(id: number): Promise<string> {
    const version = db.version;
    this.runs++;
    await this.gate;
    return `${id}@${version}`;
  }
}

const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

describe.each<[string, () => CacheStore]>([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
])('a stale refresh overtaken by an invalidation, on %s', (_name, store) => {
  it.each([
    ['this instance', 'header'],
    ['this instance', 'tokens'],
    ['another instance', 'header'],
    ['another instance', 'tokens'],
  ] as const)('invalidated by %s, entry judged by its %s: the old value is not stored', async (who, judged) => {
    const prefix = uniquePrefix('stale-snap');
    const a = await appOn(store(), prefix, [Catalog]);
    const b = await appOn(store(), prefix, [Catalog]);
    opened.push(a, b);
    const catalog = a.get(Catalog);
    const invalidator = (who === 'this instance' ? a : b).get(InvalidationService);
    for (let round = 0; round < 20; round++) {
      const id = round;
      const first = await catalog.item(id);
      expect(first).toBe(`${id}@${db.version}`);
      await settle(a);
      await sleep(40); // past the ttl: stale, within grace
      if (judged === 'tokens') await a.get(InvalidationService).invalidateTags([`other:${round}`]); // moves the epoch
      let open!: () => void;
      catalog.gate = new Promise<void>((r) => (open = r));
      const runs = catalog.runs;
      expect(await catalog.item(id)).toBe(first); // the stale value; its refresh has read the source
      expect(catalog.runs).toBe(runs + 1);
      db.version++;
      await invalidator.invalidateTags([`item:${id}`]);
      catalog.gate = undefined;
      open(); // the refresh returns the value it read before the invalidation
      await settle(a, b);
      // Every call that starts after the invalidation resolved gets a value computed after it.
      expect(await catalog.item(id)).toBe(`${id}@${db.version}`);
      expect(await b.get(Catalog).item(id)).toBe(`${id}@${db.version}`);
    }
  });
});

/*
 * Review of 217db0a: an entry judged by its header alone has its dependency list read first by the
 * refresh's snapshot; a corrupt list threw into the caller (every call, until grace ended). It
 * now costs the refresh a read of its snapshot, as a list it lacks does.
 */
@Injectable()
class Listed {
  runs = 0;
  /** Set once the entry is stale: the refresh is stored for an hour, so peeking finds it fresh. */
  static lasting = false;

  @CacheMemoize({ ttl: () => (Listed.lasting ? '1h' : 30), grace: '1h', tags: (id: number) => [`item:${id}`] })
  async graced(id: number): Promise<string> {
    return `${id}#${++this.runs}`;
  }

  @CacheMemoize({ ttl: '1h', refreshAhead: 3_599_990, tags: (id: number) => [`item:${id}`] })
  async ahead(id: number): Promise<string> {
    return `${id}#${++this.runs}`;
  }
}

describe('an entry whose dependency list is corrupt, judged by its header, on redis', () => {
  const redis = new Redis(servers.redis);
  afterAll(() => redis.disconnect());

  it.each(['graced', 'ahead'] as const)(
    '%s: the stale value is served, and the refresh replaces the entry',
    async (method) => {
      const app = await appOn(redisStore({ url: servers.redis }), uniquePrefix('corrupt-deps'), [Listed]);
      opened.push(app);
      const listed = app.get(Listed);
      for (let round = 0; round < 5; round++) {
        Listed.lasting = false;
        const first = await listed[method](round);
        await settle(app);
        const { key } = await cacheHandle(listed, method).explain(round);
        const bytes = await redis.getBuffer(key);
        const list = bytes!.indexOf('[["');
        expect(list).toBeGreaterThan(0);
        bytes![list] = '{'.charCodeAt(0); // same length, no longer JSON
        await redis.set(key, bytes!, 'KEEPTTL');
        await sleep(40); // graced: stale; ahead: near expiry
        const runs = listed.runs;
        Listed.lasting = true;
        expect(await listed[method](round)).toBe(first);
        await settle(app);
        expect(listed.runs).toBe(runs + 1);
        expect(await cacheHandle(listed, method).peek(round)).toEqual({ value: `${round}#${runs + 1}` });
      }
    },
  );
});
