/**
 * Adversarial tests of the consistency model:
 *
 *   once an invalidation (InvalidationService.invalidateTags / invalidateKeys / invalidateMethod /
 *   invalidateNamespace / clear, or cacheHandle(svc, 'm').invalidate) RESOLVES, no call that STARTS
 *   afterwards, in ANY app instance sharing the store, returns a value computed before it —
 *   against computations in flight, callers joining a computation, and lost records.
 *
 * Every scenario uses a "database" (a version per user id) read at the START of each computation,
 * as a real query would be; it is changed before the invalidation, so a value with the old version
 * is a value computed before the invalidation. The caller that started before an invalidation may
 * get either version; every call that starts after it must get the new one.
 *
 *   1. a write that lands after an invalidation never undoes it (slow computation, slow write,
 *      slow read reply, and a method whose result shape is learnt from its first call)
 *   2. callers never join a computation an invalidation made obsolete (300 randomized races)
 *   3. lost records: Redis evicting under maxmemory, memcached restarted, memcached frozen
 *      during an invalidation, version records deleted behind the library's back
 *   4. clocks: instances 3 s apart; an event-loop stall in one process during a race
 *   5. grace never makes callers wait, and never serves an invalidated value
 *   6. tiered store across processes: the very next call after an invalidation, a frozen peer
 */
import 'reflect-metadata';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import {
  CacheMemoize,
  CacheMemoizeErrorCode,
  cacheHandle,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  TieredStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { decodeEnvelope } from '../../lib/codec/envelope';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { closeNodeRedisClients, nodeRedisStore } from '../support/node-redis';
import { MemcachedServer, RedisServer } from '../support/servers';
import { drained, settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { spawnTs } from '../support/ts-child';
import { seeded } from '../support/seeded';
import { appOn } from '../support/app-on';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

type User = { id: number; version: number };

/** The "database" of the in-process services: version per user id. */
const db = new Map<number, number>();
/** The "database" of ReportService. */
const reports = new Map<number, number>();

/** What the next computation of an id does: tell the test it started, wait, take time. */
interface Plan {
  onStart?: () => void;
  hold?: Promise<void>;
  delayMs?: number;
}

@Injectable()
class UserService {
  runs = 0;
  readonly plans = new Map<number, Plan>();

  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<User> {
    this.runs++;
    const version = db.get(id) ?? 0; // the query reads the database first...
    const plan = this.plans.get(id);
    this.plans.delete(id);
    plan?.onStart?.();
    if (plan?.hold) await plan.hold; // ...then takes its time
    if (plan?.delayMs) await sleep(plan.delayMs);
    return { id, version };
  }
}

@Injectable()
class LegacyService {
  runs = 0;

  // Neither `async` nor annotated: there is no design:returntype, so the library learns that it
  // returns a promise from its first call (a very common shape: `return this.repo.findOne(...)`).
  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  findUser(id: number) {
    this.runs++;
    const version = db.get(id) ?? 0;
    return Promise.resolve({ id, version });
  }
}

@Injectable()
class ReportService {
  runs = 0;
  finished = 0;
  delayMs = 0;

  @CacheMemoize({ ttl: 500, grace: '10s', tags: (id: number) => [`report:${id}`] })
  async getReport(id: number): Promise<User> {
    this.runs++;
    const version = reports.get(id) ?? 0;
    await sleep(this.delayMs);
    this.finished++;
    return { id, version };
  }
}

const boot = (store: CacheStore, prefix: string): Promise<TestingModule> =>
  appOn(store, prefix, [UserService, LegacyService, ReportService]);

/** The byte store an engine on `store` talks to (a tiered store's L2). */
function wireOf(store: CacheStore): CacheStore {
  return store instanceof TieredStore ? store.l2 : store;
}

interface Held {
  /** The held operation was issued. */
  reached: Promise<void>;
  release(): void;
  /** The held operation completed (after release). */
  done: Promise<void>;
}

/**
 * Holds the next write of `key` before it reaches the store (a slow network, a paused process):
 * it is sent once released.
 */
function holdNextWrite(store: CacheStore, key: string): Held {
  const target = wireOf(store);
  const original = target.set;
  const reached = deferred();
  const gate = deferred();
  const done = deferred();
  let armed = true;
  target.set = function (this: CacheStore, k: string, value: Uint8Array, ttlMs: number): Promise<void> {
    if (!armed || k !== key) return original.call(target, k, value, ttlMs);
    armed = false;
    reached.resolve();
    return gate.promise.then(() => original.call(target, k, value, ttlMs)).finally(() => done.resolve());
  };
  return { reached: reached.promise, release: () => gate.resolve(), done: done.promise };
}

/**
 * Holds the reply of the next read that includes `key`: the read is sent at once (it sees the
 * store as it is now) and its answer is delivered once released (a slow network).
 */
function holdNextReadReply(store: CacheStore, key: string): Held {
  const target = wireOf(store);
  const original = target.getMany;
  const reached = deferred();
  const gate = deferred();
  const done = deferred();
  let armed = true;
  target.getMany = function (this: CacheStore, keys: readonly string[]) {
    const reply = original.call(target, keys);
    if (!armed || !keys.includes(key)) return reply;
    armed = false;
    reached.resolve();
    return gate.promise.then(() => reply).finally(() => done.resolve());
  };
  return { reached: reached.promise, release: () => gate.resolve(), done: done.promise };
}

type Kind = 'redis' | 'memcached' | 'tiered' | 'node-redis' | 'tiered-node-redis';
const isTiered = (kind: Kind) => kind === 'tiered' || kind === 'tiered-node-redis';

/** The ways of sharing a store, on the servers globalSetup started (Redis through both clients). */
const SHARED: Array<[Kind, () => CacheStore]> = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
  ['node-redis', () => nodeRedisStore(servers.redis)],
  ['tiered-node-redis', () => tieredStore(memoryStore(), nodeRedisStore(servers.redis))],
];

interface Pair {
  kind: Kind;
  prefix: string;
  storeA: CacheStore;
  storeB: CacheStore;
  a: TestingModule;
  b: TestingModule;
  ua: UserService;
  ub: UserService;
  ia: InvalidationService;
  ib: InvalidationService;
}

/** Two app instances (A and B) on one store: same prefix, each with its own store object (connection). */
function usePair(kind: Kind, make: () => CacheStore): () => Pair {
  let pair: Pair | undefined;
  beforeEach(async () => {
    const prefix = uniquePrefix(`c${kind}`);
    const [storeA, storeB] = [make(), make()];
    const [a, b] = await Promise.all([boot(storeA, prefix), boot(storeB, prefix)]);
    pair = {
      kind,
      prefix,
      storeA,
      storeB,
      a,
      b,
      ua: a.get(UserService),
      ub: b.get(UserService),
      ia: a.get(InvalidationService),
      ib: b.get(InvalidationService),
    };
    if (isTiered(kind)) await sleep(100); // both instances hold their bus lease: L1 hits are served from memory
  });
  afterEach(async () => {
    await Promise.all([pair?.a.close(), pair?.b.close()]);
    pair = undefined;
  });
  return () => pair!;
}

/** Every way of invalidating, performed on instance B. */
const INVALIDATIONS: Array<[string, (p: Pair, id: number) => Promise<void>]> = [
  ['invalidateTags', (p, id) => p.ib.invalidateTags([`user:${id}`])],
  ['invalidateMethod', (p, id) => p.ib.invalidateMethod(UserService, 'getUser', [id])],
  ['invalidateKeys', (p, id) => p.ib.invalidateKeys([p.ib.keyOf(UserService, 'getUser', [id])])],
  ['cacheHandle().invalidate', (p, id) => cacheHandle(p.ub, 'getUser').invalidate(id)],
  ['invalidateNamespace', (p) => p.ib.invalidateNamespace('UserService')],
  ['clear', (p) => p.ib.clear()],
];

beforeAll(() => {
  for (const level of ['log', 'warn', 'error'] as const)
    jest.spyOn(Logger.prototype, level).mockImplementation(() => undefined);
});
afterAll(() => jest.restoreAllMocks());
beforeEach(() => {
  db.clear();
  reports.clear();
});
afterEach(() => closeNodeRedisClients()); // the stores never close a client passed in

// ---------------------------------------------------------------------------------------------
// 1, 2, 3d, 5: two instances in this process, on Redis, memcached (2 servers) and tiered
// ---------------------------------------------------------------------------------------------

describe.each(SHARED)('%s: two app instances sharing the store', (kind, make) => {
  const pair = usePair(kind, make);

  describe('1. a write that lands after an invalidation never undoes it', () => {
    it.each(INVALIDATIONS)(
      '%s on B resolves while A computes; A writes afterwards: A and B then return the new value',
      async (how, invalidate) => {
        const p = pair();
        const id = 1;
        db.set(id, 1);
        const started = deferred();
        const release = deferred();
        p.ua.plans.set(id, { onStart: started.resolve, hold: release.promise });
        const first = p.ua.getUser(id);
        await started.promise;
        db.set(id, 2);
        await invalidate(p, id);
        release.resolve();
        await first; // started before the invalidation: either version is allowed for this caller
        await settle(p.a, p.b); // A's write has landed

        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
        expect(p.ua.runs).toBe(2); // recomputed once
        await settle(p.a, p.b);
        expect(await p.ub.getUser(id)).toEqual({ id, version: 2 });
        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
        expect(p.ua.runs).toBe(2);
        // B reads what A recomputed (after clear(), a memcached instance may still address the
        // previous generation of keys for up to generationRefresh, and compute once itself).
        expect(p.ub.runs).toBeLessThanOrEqual(kind === 'memcached' && how === 'clear' ? 1 : 0);
      },
    );

    it.each(INVALIDATIONS)(
      "%s on B resolves while A's write of the old value is still on its way to the store",
      async (_how, invalidate) => {
        const p = pair();
        const id = 1;
        db.set(id, 1);
        const write = holdNextWrite(p.storeA, p.ia.keyOf(UserService, 'getUser', [id]));
        expect(await p.ua.getUser(id)).toEqual({ id, version: 1 }); // computed; its write is held
        await write.reached;
        db.set(id, 2);
        await invalidate(p, id);

        // A call that starts now, while the old write is still on its way: the new value.
        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
        write.release();
        await write.done; // the old value has reached the store, after the invalidation
        await settle(p.a, p.b);

        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
        expect(await p.ub.getUser(id)).toEqual({ id, version: 2 });
        await settle(p.a, p.b);
        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
        expect(await p.ub.getUser(id)).toEqual({ id, version: 2 });
      },
    );

    it.each(INVALIDATIONS)(
      "%s on B resolves while the reply to A's read of the old entry is in flight: A's next call returns the new value",
      async (_how, invalidate) => {
        const p = pair();
        const id = 1;
        db.set(id, 1);
        expect(await p.ub.getUser(id)).toEqual({ id, version: 1 }); // B cached it
        await settle(p.a, p.b);
        const read = holdNextReadReply(p.storeA, p.ia.keyOf(UserService, 'getUser', [id]));
        const first = p.ua.getUser(id);
        await read.reached; // A's lookup has read the store (old entry, old epoch)
        db.set(id, 2);
        await invalidate(p, id);
        read.release();
        await first; // started before the invalidation: either version is allowed for this caller
        await settle(p.a, p.b);

        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
        expect(await p.ub.getUser(id)).toEqual({ id, version: 2 });
        expect(await p.ua.getUser(id)).toEqual({ id, version: 2 });
      },
    );

    it('the first call of a method whose result shape is learnt from that call ran before any version was read: it is not stored', async () => {
      const p = pair();
      const id = 1;
      db.set(id, 1);
      const legacyA = p.a.get(LegacyService);
      const legacyB = p.b.get(LegacyService);
      // If the first call looked its key up (and stored what it had read), hold that lookup's reply
      // until the invalidation resolved: its value would then be stored as current.
      const read = holdNextReadReply(p.storeA, p.ia.keyOf(LegacyService, 'findUser', [id]));
      const first = legacyA.findUser(id); // reads the database (version 1) at once
      await Promise.race([read.reached, sleep(100)]);
      db.set(id, 2);
      await p.ib.invalidateTags([`user:${id}`]);
      read.release();
      expect(await first).toEqual({ id, version: 1 }); // started before the invalidation: allowed
      await settle(p.a, p.b);

      expect(await legacyA.findUser(id)).toEqual({ id, version: 2 });
      expect(await legacyB.findUser(id)).toEqual({ id, version: 2 });
    });
  });

  describe('2. callers never join a computation an invalidation made obsolete', () => {
    it('300 randomized races (computation 5-20 ms, invalidateTags on B at a random moment): no call started after it resolved gets the old value', async () => {
      const p = pair();
      const random = seeded(0xc0ffee + kind.length);
      const stale: string[] = [];
      let staleRaces = 0;

      const race = async (id: number): Promise<void> => {
        db.set(id, 1);
        const computeMs = 5 + Math.floor(random() * 16);
        const waitMs = Math.floor(random() * (computeMs + 10)); // before, during or after A's write
        const checkDelayMs = Math.floor(random() * 5);
        p.ua.plans.set(id, { delayMs: computeMs });
        const first = p.ua.getUser(id);
        await sleep(waitMs);
        db.set(id, 2);
        await p.ib.invalidateTags([`user:${id}`]);
        const seen: Array<[string, User]> = [];
        seen.push(['A, right after', await p.ua.getUser(id)]); // may join/overlap A's first computation
        await first;
        seen.push(['A, after the first computation returned', await p.ua.getUser(id)]);
        await sleep(checkDelayMs);
        seen.push(['A, later', await p.ua.getUser(id)]);
        seen.push(['B', await p.ub.getUser(id)]);
        const old = seen.filter(([, user]) => user.version !== 2);
        if (old.length > 0) {
          staleRaces++;
          if (stale.length < 10)
            stale.push(
              `id ${id} (compute ${computeMs} ms, invalidate after ${waitMs} ms): ${old.map(([who]) => who).join('; ')}`,
            );
        }
      };

      for (let round = 0; round < 30; round++) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => race(1_000 + round * 10 + i)));
      }
      expect({ staleRaces, examples: stale }).toEqual({ staleRaces: 0, examples: [] });
    }, 25_000);
  });

  describe('3d. version records lost behind the library (a short record lifetime, a flush)', () => {
    it('records deleted: the next read recomputes (missing counts as changed); old entries are never served', async () => {
      const p = pair();
      const [k1, k2] = [1, 2];
      db.set(k1, 1);
      db.set(k2, 1);
      await Promise.all([p.ua.getUser(k1), p.ua.getUser(k2)]);
      await settle(p.a, p.b);
      db.set(k1, 2);
      db.set(k2, 2);
      await p.ib.invalidateTags([`user:${k1}`, `user:${k2}`]);
      expect(await p.ua.getUser(k1)).toEqual({ id: k1, version: 2 }); // k1 recomputed; k2 keeps its old entry in the store
      await settle(p.a, p.b);
      expect(p.ua.runs).toBe(3);

      const deleted = await deleteRecords(p, [k1, k2]);
      expect(deleted).toBeGreaterThan(0);

      // B holds no copy of either: both reads go to the store, find their records missing, and recompute.
      expect(await p.ub.getUser(k2)).toEqual({ id: k2, version: 2 });
      expect(await p.ub.getUser(k1)).toEqual({ id: k1, version: 2 });
      expect(p.ub.runs).toBe(2);
      await settle(p.a, p.b);
      expect(await p.ua.getUser(k2)).toEqual({ id: k2, version: 2 });
      expect(await p.ua.getUser(k1)).toEqual({ id: k1, version: 2 });
    });
  });

  describe('5. grace on a shared store', () => {
    it('after ttl, 20 concurrent callers get the stale value without waiting for the 800 ms refresh, which runs once; an invalidated entry is never served stale', async () => {
      const p = pair();
      const ra = p.a.get(ReportService);
      const rb = p.b.get(ReportService);
      reports.set(1, 1);
      expect(await ra.getReport(1)).toEqual({ id: 1, version: 1 });
      await settle(p.a, p.b);
      await sleep(600); // past ttl (500 ms), within grace (10 s)
      reports.set(1, 2);
      ra.delayMs = 800;

      const answers = await Promise.all(
        Array.from({ length: 20 }, () => ra.getReport(1).then((value) => ({ value, refreshed: ra.finished > 1 }))),
      );
      expect(answers.map((a) => a.value)).toEqual(Array.from({ length: 20 }, () => ({ id: 1, version: 1 })));
      // Nobody waited for the 800 ms refresh: every answer came before it finished.
      expect(answers.filter((a) => a.refreshed)).toEqual([]);

      await settle(p.a, p.b); // waits for the refresh and its write (bounded)
      expect(ra.runs).toBe(2); // exactly one refresh ran for the 20 callers
      ra.delayMs = 0;
      expect(await ra.getReport(1)).toEqual({ id: 1, version: 2 });
      expect(ra.runs).toBe(2);
      expect(rb.runs).toBe(0);

      // Stale again (past ttl, within grace), then invalidated: nobody may get it any more.
      await sleep(600);
      reports.set(1, 3);
      await p.ib.invalidateTags(['report:1']);
      expect(await ra.getReport(1)).toEqual({ id: 1, version: 3 });
      expect(await rb.getReport(1)).toEqual({ id: 1, version: 3 });
    });
  });
});

/** Deletes the version records (epoch, tags, namespaces, key buckets, clear key) of these users' entries. */
async function deleteRecords(p: Pair, ids: number[]): Promise<number> {
  if (p.kind === 'memcached') {
    // memcached cannot scan: the records are the ones the entries name, plus the epoch.
    const raw = memcachedStore({ servers: servers.memcached.join(',') });
    try {
      const keys = new Set<string>([`${p.prefix}:~epoch`]);
      for (const id of ids) {
        const bytes = await raw.get(p.ia.keyOf(UserService, 'getUser', [id]));
        if (bytes === undefined) continue;
        for (const dep of decodeEnvelope(bytes).dependencies(p.prefix).deps) keys.add(dep);
      }
      return await raw.deleteMany([...keys]);
    } finally {
      await raw.disconnect();
    }
  }
  const raw = new Redis(servers.redis);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await raw.scan(cursor, 'MATCH', `${p.prefix}:~*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys.length === 0 ? 0 : raw.del(...keys);
  } finally {
    raw.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// 3a: Redis evicting version records under memory pressure
// ---------------------------------------------------------------------------------------------

describe.each(['allkeys-lru', 'allkeys-random', 'volatile-lru'])(
  '3a. a private Redis with --maxmemory 8mb --maxmemory-policy %s',
  (policy) => {
    let server: RedisServer;
    let raw: Redis;
    let junk = 0;
    beforeAll(async () => {
      server = await RedisServer.launch(['--maxmemory', '8mb', '--maxmemory-policy', policy]);
      raw = new Redis(server.url);
    });
    beforeEach(async () => {
      await raw.flushall(); // private server: each test starts with free memory
    });
    afterAll(async () => {
      raw?.disconnect();
      await server?.stop();
    });

    /**
     * Fills memory up to maxmemory, then writes `share` of maxmemory more (junk with a ttl, so every
     * policy may evict it): roughly that share of the keys present is evicted. `keep` are read
     * between batches: under LRU they stay as recent as the junk (Redis' LRU clock has a 1 s
     * resolution: keys used within the same second go in no particular order), the rest is older.
     */
    async function pressure(share: number, keep: readonly string[]): Promise<void> {
      const memory = await raw.info('memory');
      const used = Number(/used_memory:(\d+)/.exec(memory)![1]);
      const max = Number(/maxmemory:(\d+)/.exec(memory)![1]);
      const value = 'x'.repeat(1000);
      const keys = Math.ceil((Math.max(0, max - used) + share * max) / 1100);
      for (let i = 0; i < keys; i += 500) {
        const batch = raw.pipeline();
        for (let j = i; j < Math.min(keys, i + 500); j++) batch.set(`junk:${junk++}`, value, 'PX', 600_000);
        batch.mget(...keep);
        await batch.exec();
      }
    }

    it.each([
      ['redis', () => redisStore({ url: server.url })],
      ['tiered', () => tieredStore(memoryStore(), redisStore({ url: server.url }))],
    ] as Array<[Kind, () => CacheStore]>)(
      '%s: 50 entries, records evicted around invalidateTags: no entry served afterwards is pre-invalidation',
      async (_kind, make) => {
        const prefix = uniquePrefix('evict');
        const [a, b] = await Promise.all([boot(make(), prefix), boot(make(), prefix)]);
        try {
          const ua = a.get(UserService);
          const ub = b.get(UserService);
          const ids = Array.from({ length: 50 }, (_, i) => i);
          for (const id of ids) db.set(id, 1);
          await Promise.all(ids.map((id) => ua.getUser(id)));
          await settle(a, b);
          const entryKeys = ids.map((id) => a.get(InvalidationService).keyOf(UserService, 'getUser', [id]));
          const tagKeys = ids.map((id) => `${prefix}:~tag:user:${id}`);
          expect((await raw.mget(...tagKeys)).filter((v) => v !== null)).toHaveLength(50);
          const evictedBefore = evictedKeys(await raw.info('stats'));

          for (const id of ids) db.set(id, 2);
          // Redis's LRU clock ticks once a second: let the records age past the entries the pressure
          // keeps touching, or a busy machine evicts both alike and the scenario does not happen.
          await sleep(1_100);
          await pressure(0.3, entryKeys);
          let failure: unknown;
          await b
            .get(InvalidationService)
            .invalidateTags(ids.map((id) => `user:${id}`))
            .catch((error: unknown) => (failure = error));
          // Eviction samples keys, so one round of pressure may spare every record (seen on a loaded CI
          // machine): press again, a bounded number of times, until old entries outlive their records.
          let orphans: number[] = [];
          let present = { entries: 0, tags: 0 };
          for (let round = 0; round < 5 && orphans.length === 0; round++) {
            await sleep(1_100);
            await pressure(0.5, entryKeys);
            const [entries, tags] = await Promise.all([raw.mget(...entryKeys), raw.mget(...tagKeys)]);
            orphans = ids.filter((i) => entries[i] !== null && tags[i] === null);
            present = {
              entries: entries.filter((v) => v !== null).length,
              tags: tags.filter((v) => v !== null).length,
            };
          }

          // The scenario happened: keys were evicted, and old entries outlived their tag records.
          expect(evictedKeys(await raw.info('stats')) - evictedBefore).toBeGreaterThan(0);
          expect({ orphans: orphans.length > 0, present }).toMatchObject({ orphans: true });

          const seenA = await Promise.all(ids.map((id) => ua.getUser(id)));
          const seenB = await Promise.all(ids.map((id) => ub.getUser(id)));
          // A rejected invalidation is allowed (then only the invalidating instance is bound by it).
          if (failure !== undefined) expect(failure).toMatchObject({ code: CacheMemoizeErrorCode.StoreFailure });
          const seen = failure === undefined ? [...seenA, ...seenB] : seenB;
          const stale = seen.filter((u) => u.version !== 2).map((u) => u.id);
          expect({ stale }).toEqual({ stale: [] });
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      },
      45_000,
    );
  },
);

function evictedKeys(info: string): number {
  return Number(/evicted_keys:(\d+)/.exec(info)?.[1] ?? 0);
}

// ---------------------------------------------------------------------------------------------
// 3b, 3c: memcached, two private servers, one restarted or frozen
// ---------------------------------------------------------------------------------------------

describe('3b/3c. memcached with two private servers, one of them restarted or frozen', () => {
  let x: MemcachedServer;
  let y: MemcachedServer;
  const apps: TestingModule[] = [];
  beforeEach(async () => {
    [x, y] = await Promise.all([MemcachedServer.launch(), MemcachedServer.launch()]);
  });
  afterEach(async () => {
    x?.thaw();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all([x?.stop(), y?.stop()]);
  });

  async function instances(prefix = uniquePrefix('mcpriv')): Promise<[TestingModule, TestingModule]> {
    const make = () => memcachedStore({ servers: `${x.address},${y.address}` });
    const pair = await Promise.all([boot(make(), prefix), boot(make(), prefix)]);
    apps.push(...pair);
    return pair;
  }

  const ids = Array.from({ length: 20 }, (_, i) => i);
  const stale = (users: User[]) => users.filter((u) => u.version !== 2).map((u) => u.id);

  it('3b. a server restarted (empty) after the invalidation, or before it: nothing stale on either instance', async () => {
    const [a, b] = await instances();
    const ua = a.get(UserService);
    const ub = b.get(UserService);

    // Cached, invalidated, then a server loses everything it held.
    for (const id of ids) db.set(id, 1);
    await Promise.all(ids.map((id) => ua.getUser(id)));
    await settle(a, b);
    for (const id of ids) db.set(id, 2);
    await b.get(InvalidationService).invalidateTags(ids.map((id) => `user:${id}`));
    await x.restart();
    expect({
      a: stale(await Promise.all(ids.map((id) => ua.getUser(id)))),
      b: stale(await Promise.all(ids.map((id) => ub.getUser(id)))),
    }).toEqual({ a: [], b: [] });

    // Cached, the server restarts, then invalidated.
    const more = ids.map((id) => id + 100);
    for (const id of more) db.set(id, 1);
    await Promise.all(more.map((id) => ua.getUser(id)));
    await settle(a, b);
    await x.restart();
    for (const id of more) db.set(id, 2);
    let failure: unknown;
    await b
      .get(InvalidationService)
      .invalidateTags(more.map((id) => `user:${id}`))
      .catch((error: unknown) => (failure = error));
    if (failure !== undefined) expect(failure).toMatchObject({ code: CacheMemoizeErrorCode.StoreFailure });
    const afterB = stale(await Promise.all(more.map((id) => ub.getUser(id))));
    const afterA = failure === undefined ? stale(await Promise.all(more.map((id) => ua.getUser(id)))) : [];
    expect({ a: afterA, b: afterB }).toEqual({ a: [], b: [] });
  }, 20_000);

  /**
   * A prefix whose epoch record lives on server X and whose key generation (memcachedStore's
   * clear() counter) on Y, as memjs routes them (hash of the physical key, mod the server count;
   * the physical names are memcachedStore's: '<prefix>:|~epoch', '~gen|<prefix>:'). Any prefix
   * has some records on each server; this one makes the worst case deterministic, and keeps the
   * key generation (which a failover would also replace) out of the way.
   */
  function prefixWithEpochOnX(): string {
    const probe = memcachedStore({ servers: `${x.address},${y.address}` }); // memjs connects on first use only
    const serverOf = (key: string) => (probe.client as unknown as { getServer(key: string): number }).getServer(key);
    try {
      for (;;) {
        const prefix = uniquePrefix('mcfrozen');
        if (serverOf(`${prefix}:|~epoch`) === 0 && serverOf(`~gen|${prefix}:`) === 1) return prefix;
      }
    } finally {
      void probe.disconnect();
    }
  }

  it('3c. a server frozen (SIGSTOP) during invalidations: each rejects or takes effect; during and after SIGCONT the invalidating instance serves nothing stale', async () => {
    const [a] = await instances(prefixWithEpochOnX());
    const ua = a.get(UserService);
    const inv = a.get(InvalidationService);
    for (const id of ids) db.set(id, 1);
    await Promise.all(ids.map((id) => ua.getUser(id)));
    await settle(a);
    expect(ua.runs).toBe(20);
    for (const id of ids) db.set(id, 2);

    x.freeze();
    const outcomes: string[] = [];
    try {
      // Traffic goes on during the freeze: the first call waits out the client's timeout, then the
      // client fails over (memjs failover: keys of the silent server go to the other one).
      db.set(999, 1);
      expect(await ua.getUser(999)).toEqual({ id: 999, version: 1 });
      for (const id of ids) {
        outcomes.push(
          await inv.invalidateTags([`user:${id}`]).then(
            () => 'ok',
            (error: { code?: string }) => String(error.code),
          ),
        );
      }
      const whileFrozen = stale(await Promise.all(ids.map((id) => ua.getUser(id))));
      expect({ whileFrozen }).toEqual({ whileFrozen: [] });
    } finally {
      x.thaw();
    }
    expect(outcomes.filter((o) => o !== 'ok' && o !== CacheMemoizeErrorCode.StoreFailure)).toEqual([]);

    await sleep(2_500); // memjs' failover window (failoverTime 2 s) is over: keys go to the thawed server again
    const afterThaw = stale(await Promise.all(ids.map((id) => ua.getUser(id))));
    // The store re-reads its key generation (clear()) every generationRefresh (1 s): read once more after that.
    await sleep(1_200);
    const later = stale(await Promise.all(ids.map((id) => ua.getUser(id))));
    expect({ afterThaw, later }).toEqual({ afterThaw: [], later: [] });
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// 4. Clocks: instances whose clocks are 3 s apart (engine level)
// ---------------------------------------------------------------------------------------------

describe.each(SHARED)('4. clock skew on %s', (kind, make) => {
  const open: Memoizer[] = [];
  afterEach(async () => {
    for (const m of open.splice(0)) {
      await m.close(1_000);
      await m.store.disconnect();
    }
  });

  async function engine(prefix: string, skewMs: number): Promise<Memoizer> {
    const store = make();
    await store.ready?.(5_000);
    const m = new Memoizer(store, { prefix, now: () => Date.now() + skewMs });
    open.push(m);
    return m;
  }

  it.each([3_000, -3_000])(
    'instance A %i ms off: a computation racing an invalidation by the other instance is never served afterwards, either way round',
    async (skewMs) => {
      const prefix = uniquePrefix(`clk${kind}`);
      const a = await engine(prefix, skewMs);
      const b = await engine(prefix, 0);
      if (isTiered(kind)) await sleep(100);
      const tag = `${prefix}:~tag:user`;
      const policy = testPolicy({ ttlMs: 60_000, deps: [tag] });
      let version = 1;
      const runs = { a: 0, b: 0 };
      const drain = () => drained(a, b);
      const factory = (who: 'a' | 'b', plan?: { started: Deferred; hold: Promise<void> }) => async () => {
        runs[who]++;
        const v = version;
        plan?.started.resolve();
        if (plan) await plan.hold;
        return v;
      };

      for (const [slow, invalidator, key] of [
        [a, b, `${prefix}:k1`],
        [b, a, `${prefix}:k2`],
      ] as const) {
        version = 1;
        const slowWho = slow === a ? 'a' : 'b';
        const plan = { started: deferred(), hold: deferred() };
        const first = slow.getOrSet(key, factory(slowWho, { started: plan.started, hold: plan.hold.promise }), policy);
        await plan.started.promise;
        version = 2;
        await invalidator.invalidateDeps([tag]);
        plan.hold.resolve();
        await first;
        await drain();
        expect(await slow.getOrSet(key, factory(slowWho), policy)).toBe(2);
        await drain();
        expect(await invalidator.getOrSet(key, factory(slowWho === 'a' ? 'b' : 'a'), policy)).toBe(2);
      }

      // And without a race: cached by one, invalidated by the other, read by both.
      version = 3;
      const key = `${prefix}:k3`;
      expect(await a.getOrSet(key, factory('a'), policy)).toBe(3);
      await drain();
      expect(await b.getOrSet(key, factory('b'), policy)).toBe(3);
      version = 4;
      await b.invalidateDeps([tag]);
      expect(await a.getOrSet(key, factory('a'), policy)).toBe(4);
      await drain();
      expect(await b.getOrSet(key, factory('b'), policy)).toBe(4);
      version = 5;
      await a.invalidateDeps([tag]);
      expect(await b.getOrSet(key, factory('b'), policy)).toBe(5);
      await drain();
      expect(await a.getOrSet(key, factory('a'), policy)).toBe(5);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// 4 (stall) and 6: app instances in separate processes
// ---------------------------------------------------------------------------------------------

interface WorkerEvent {
  event?: string;
  id?: number;
  version?: number;
}
interface GetReply {
  value: User & { pid: number };
  ms: number;
}
interface InvalidateReply {
  ok: boolean;
  code?: string;
  error?: string;
  ms: number;
}

/** An app instance in its own process (test/support/consistency-worker.ts); commands run concurrently. */
class AppProcess {
  private seq = 0;
  private readonly pending = new Map<number, (reply: unknown) => void>();
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.once('exit', () => (this.exited = true));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: { rid?: number } & WorkerEvent;
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      if (typeof message.rid === 'number') {
        const done = this.pending.get(message.rid);
        this.pending.delete(message.rid);
        done?.(message);
      } else {
        for (const listener of [...this.listeners]) listener(message);
      }
    });
  }

  static async start(kind: Kind, address: string, prefix: string, dbFile: string): Promise<AppProcess> {
    const child = spawnTs('test/support/consistency-worker.ts', [kind, address, prefix, dbFile]);
    const app = new AppProcess(child);
    await app.next((e) => e.event === 'ready', 60_000);
    return app;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next event matching `match` (register before triggering it). */
  next(match: (event: WorkerEvent) => boolean, timeoutMs = 10_000): Promise<WorkerEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no matching event from worker ${this.child.pid} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (event: WorkerEvent) => {
        if (!match(event)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(event);
      };
      this.listeners.add(listener);
    });
  }

  send<T>(command: Record<string, unknown>): Promise<T> {
    const rid = this.seq++;
    const reply = new Promise<T>((resolve) => this.pending.set(rid, resolve as (reply: unknown) => void));
    this.child.stdin!.write(JSON.stringify({ ...command, rid }) + '\n');
    return reply;
  }

  get(id: number): Promise<GetReply> {
    return this.send<GetReply>({ op: 'get', id });
  }

  invalidateTags(tags: string[]): Promise<InvalidateReply> {
    return this.send<InvalidateReply>({ op: 'invalidateTags', tags });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGCONT');
    this.child.stdin!.write(JSON.stringify({ op: 'exit', rid: -1 }) + '\n');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (this.child.kill('SIGKILL'), resolve()), 5_000);
      this.child.once('exit', () => (clearTimeout(timer), resolve()));
    });
  }
}

describe.each([
  ['redis', servers.redis],
  ['memcached', servers.memcached.join(',')],
  ['tiered', servers.redis],
  ['tiered-node-redis', servers.redis],
] as Array<[Kind, string]>)('4/6. two app instances in separate processes on %s', (kind, address) => {
  let a: AppProcess;
  let b: AppProcess;
  let dir: string;
  let dbFile: string;
  const rows: Record<string, number> = {};
  let nextId = 1;

  /** Sets a user's version in the database the workers read (atomically: write, then rename). */
  function setVersion(id: number, version: number): void {
    rows[String(id)] = version;
    writeFileSync(`${dbFile}.tmp`, JSON.stringify(rows));
    renameSync(`${dbFile}.tmp`, dbFile);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ncm-consistency-'));
    dbFile = join(dir, 'db.json');
    writeFileSync(dbFile, '{}');
    const prefix = uniquePrefix(`proc${kind}`);
    [a, b] = await Promise.all([
      AppProcess.start(kind, address, prefix, dbFile),
      AppProcess.start(kind, address, prefix, dbFile),
    ]);
    await sleep(200); // bus leases held (tiered)
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("4. A's event loop stalls 400 ms (busy) at the end of a computation that B's invalidateTags races: afterwards A and B return the new value", async () => {
    const id = nextId++;
    setVersion(id, 1);
    await a.send({ op: 'plan', id, delayMs: 40, stallMs: 400 });
    const started = a.next((e) => e.event === 'started' && e.id === id);
    const first = a.get(id);
    expect((await started).version).toBe(1);
    setVersion(id, 2);
    await sleep(80); // A is inside its stall now
    const invalidated = await b.invalidateTags([`user:${id}`]);
    expect(invalidated).toMatchObject({ ok: true });

    const nextOnA = await a.get(id);
    await first; // started before the invalidation: either version is allowed for this caller
    const nextOnB = await b.get(id);
    await sleep(100);
    const laterOnA = await a.get(id);
    expect({
      nextOnA: nextOnA.value.version,
      nextOnB: nextOnB.value.version,
      laterOnA: laterOnA.value.version,
    }).toEqual({ nextOnA: 2, nextOnB: 2, laterOnA: 2 });
  });

  it("6. after B's invalidateTags resolves, A's very next call returns the new value (20 rounds, no polling)", async () => {
    const id = nextId++;
    setVersion(id, 1);
    expect((await a.get(id)).value.version).toBe(1);
    expect((await a.get(id)).value.version).toBe(1); // now from A's memory (tiered)
    const misses: string[] = [];
    for (let version = 2; version <= 21; version++) {
      setVersion(id, version);
      const invalidated = await b.invalidateTags([`user:${id}`]);
      expect(invalidated).toMatchObject({ ok: true });
      const nextOnA = (await a.get(id)).value.version;
      const againOnA = (await a.get(id)).value.version;
      const onB = (await b.get(id)).value.version;
      if (nextOnA !== version || againOnA !== version || onB !== version)
        misses.push(`round ${version}: A ${nextOnA}, A again ${againOnA}, B ${onB}`);
    }
    expect(misses).toEqual([]);
  });

  it("6. A frozen (SIGSTOP 2 s) while B invalidates: B's invalidateTags resolves while A is still stopped, and after SIGCONT A's next call is not the old value", async () => {
    const id = nextId++;
    setVersion(id, 1);
    expect((await a.get(id)).value.version).toBe(1);
    expect((await a.get(id)).value.version).toBe(1); // in A's memory (tiered)
    expect((await b.get(id)).value.version).toBe(1);
    setVersion(id, 2);

    process.kill(a.pid, 'SIGSTOP');
    // B does not wait for the frozen instance: its invalidation settles while A is still stopped.
    // A stays stopped for 2 s, and after that until B settles (at most 10 s in all, then this fails).
    let thawed = false;
    const pending = b.invalidateTags([`user:${id}`]);
    const thaw = (async () => {
      await sleep(2_000);
      await Promise.race([pending.catch(() => undefined), sleep(8_000)]);
      process.kill(a.pid, 'SIGCONT');
      thawed = true;
    })();
    let invalidated: InvalidateReply;
    let thawedBeforeSettled: boolean;
    try {
      invalidated = await pending;
      thawedBeforeSettled = thawed;
    } finally {
      await thaw;
    }
    expect(thawedBeforeSettled).toBe(false);
    expect(invalidated).toMatchObject({ ok: true });

    expect((await a.get(id)).value.version).toBe(2);
    expect((await b.get(id)).value.version).toBe(2);
    await sleep(100);
    expect((await a.get(id)).value.version).toBe(2);
  }, 20_000);
});
