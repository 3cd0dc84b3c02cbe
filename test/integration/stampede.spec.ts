import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { lastValueFrom, of, toArray, type Observable } from 'rxjs';
import {
  CacheMemoize,
  CacheMemoizeErrorCode,
  CacheMemoizeModule,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  withCacheMode,
  type CacheStore,
} from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import type { CachePolicy } from '../../lib/types/policy';
import { testPolicy } from '../support/policy';
import { drained } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { spawnTs } from '../support/ts-child';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let unhandled = 0;
const onUnhandled = () => unhandled++;
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toBe(0); // no unhandled rejections, ever
});

function runWorker(
  kind: string,
  address: string,
  prefix: string,
  startAt: number,
  calls: number,
): Promise<{ runs: number; values: string[]; seen: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawnTs(
      'test/support/lock-worker.ts',
      [kind, address, prefix, String(startAt), String(calls)],
      'pipe',
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

describe.each([
  ['redis', servers.redis],
  ['memcached', servers.memcached[0]],
])('lock: true across processes on %s', (kind, address) => {
  it('4 processes x 250 concurrent calls on one cold key run the method once', async () => {
    const prefix = uniquePrefix(`lock${kind}`);
    const startAt = Date.now() + 8_000; // all workers booted by then
    const results = await Promise.all([0, 1, 2, 3].map(() => runWorker(kind, address, prefix, startAt, 250)));
    const runs = results.reduce((n, r) => n + r.runs, 0);
    // A store call that fails lets that process compute unlocked (fail-open, tested on its own);
    // otherwise exactly one computation. What each process saw is printed with a failure.
    const failed = results.filter((r) => r.seen.some((s) => s.startsWith('error') || s.startsWith('circuit'))).length;
    const report = { runs, seen: results.map((r) => r.seen) };
    expect(report).toEqual({ runs: failed === 0 ? 1 : expect.any(Number), seen: report.seen });
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(1 + failed);
    if (failed === 0) expect(new Set(results.flatMap((r) => r.values)).size).toBe(1); // every caller got the one value
  }, 60_000);
});

describe('lock holder dies', () => {
  it('the lock expires and exactly one waiter computes', async () => {
    const prefix = uniquePrefix('dead');
    const store = redisStore({ url: servers.redis });
    await store.ready(5_000);
    const m = new Memoizer(store, { prefix });
    const key = `${prefix}:k`;
    // A holder that crashed: its lock stays until its ttl (300 ms).
    await store.add(`${key}:~lock`, Buffer.from('dead-holder'), 300);
    let runs = 0;
    const policy: CachePolicy = testPolicy({ ttlMs: 60_000, deps: [], lock: { waitMs: 5_000, ttlMs: 2_000 } });
    const values = await Promise.all(Array.from({ length: 20 }, () => m.getOrSet(key, async () => ++runs, policy)));
    expect(runs).toBe(1);
    expect(new Set(values)).toEqual(new Set([1]));
    await store.disconnect();
  });
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])('freshness policies on %s', (name, makeStore) => {
  let now = 0;
  const base = (extra: Partial<CachePolicy> = {}): CachePolicy => testPolicy({ ttlMs: 1_000, deps: [], ...extra });
  let m: Memoizer;
  let prefix: string;
  beforeEach(async () => {
    now = Date.now();
    prefix = uniquePrefix(name);
    const store: CacheStore = makeStore();
    await store.ready?.(5_000);
    m = new Memoizer(store, { prefix, now: () => now });
  });
  afterEach(async () => {
    await m.close();
    await m.store.disconnect();
  });

  it('grace: serves stale at once while exactly one refresh runs', async () => {
    let runs = 0;
    const slow = async () => {
      runs++;
      await sleep(100);
      return `v${runs}`;
    };
    const p = base({ graceMs: 10_000 });
    expect(await m.getOrSet(`${prefix}:k`, slow, p)).toBe('v1');
    await drained(m);
    now += 1_500; // expired, within grace
    const served = await Promise.all(Array.from({ length: 50 }, () => m.getOrSet(`${prefix}:k`, slow, p)));
    expect(served.every((v) => v === 'v1')).toBe(true);
    await sleep(20); // the refresh reads its versions before it runs
    expect(runs).toBe(2);
    await drained(m);
    expect(await m.getOrSet(`${prefix}:k`, slow, p)).toBe('v2');
    expect(runs).toBe(2);
  });

  it('grace: a failing refresh keeps stale served, backs off, and errors propagate after grace', async () => {
    let attempts = 0;
    let failing = false;
    const f = async () => {
      attempts++;
      if (failing) throw new Error('backend down');
      return 'good';
    };
    const p = base({ graceMs: 60_000 });
    await m.getOrSet(`${prefix}:k`, f, p);
    await drained(m);
    failing = true;
    now += 2_000;
    for (let i = 0; i < 20; i++) {
      expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('good');
      await sleep(2);
    }
    expect(attempts).toBe(2); // one refresh, then back-off
    now += 1_100; // past the first back-off
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('good');
    await drained(m);
    expect(attempts).toBe(3);
    now += 60_000; // past grace: the error reaches the caller
    await expect(m.getOrSet(`${prefix}:k`, f, p)).rejects.toThrow('backend down');
  });

  it('soft timeout returns stale once the refresh is slower than it; the refresh is still stored', async () => {
    let runs = 0;
    const f = async () => {
      runs++;
      if (runs > 1) await sleep(150);
      return `v${runs}`;
    };
    const p = base({ graceMs: 60_000, softTimeoutMs: 20 });
    await m.getOrSet(`${prefix}:k`, f, p);
    await drained(m);
    now += 2_000;
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('v1');
    await drained(m);
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('v2');
  });

  it('hard timeout rejects with a typed error; the result still lands in the cache', async () => {
    let runs = 0;
    const f = async () => {
      runs++;
      await sleep(120);
      return 'late';
    };
    const p = base({ hardTimeoutMs: 20 });
    await expect(m.getOrSet(`${prefix}:k`, f, p)).rejects.toMatchObject({ code: CacheMemoizeErrorCode.Timeout });
    await drained(m);
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('late');
    expect(runs).toBe(1);
  });

  it('refresh ahead recomputes a hot entry before it expires, so hits never miss', async () => {
    let runs = 0;
    const f = async () => `v${++runs}`;
    const p = base({ ttlMs: 1_000, refreshAheadMs: 300 });
    await m.getOrSet(`${prefix}:k`, f, p);
    await drained(m);
    now += 800; // 200 ms left: a hit triggers a background refresh
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('v1');
    await drained(m);
    now += 400; // the original entry would have expired by now
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBe('v2');
    expect(runs).toBe(2);
  });

  it('etag: a changed token makes the entry stale', async () => {
    let runs = 0;
    const f = async () => ++runs;
    expect(await m.getOrSet(`${prefix}:k`, f, base(), { etag: 'a' })).toBe(1);
    await drained(m);
    expect(await m.getOrSet(`${prefix}:k`, f, base(), { etag: 'a' })).toBe(1);
    expect(await m.getOrSet(`${prefix}:k`, f, base(), { etag: 'b' })).toBe(2);
  });

  it('storeResult: false runs at most once per ttl and keeps only a marker', async () => {
    let runs = 0;
    const f = async () => ({ big: 'x'.repeat(1000), run: ++runs });
    const p = base({ storeResult: false });
    expect((await m.getOrSet(`${prefix}:k`, f, p))?.run).toBe(1);
    await drained(m);
    expect(await m.getOrSet(`${prefix}:k`, f, p)).toBeUndefined();
    expect(runs).toBe(1);
    now += 1_500;
    expect((await m.getOrSet(`${prefix}:k`, f, p))?.run).toBe(2);
  });
});

@Injectable()
class Catalog {
  runs = 0;
  @CacheMemoize({ ttl: '1m', etag: (id: number, version: number) => version })
  async item(id: number, version: number): Promise<string> {
    return `item${id}@${version}#${++this.runs}`;
  }

  @CacheMemoize({ ttl: '1m' })
  price(id: number): number {
    return id * 10 + ++this.runs;
  }

  @CacheMemoize({ ttl: '1m' })
  feed(n: number): Observable<number> {
    this.runs++;
    return of(n, n + this.runs);
  }

  @CacheMemoize({ ttl: '1m', storeResult: false })
  async sendDigest(userId: number): Promise<void> {
    this.runs += userId * 0 + 1;
  }
}

describe('policy options and per-call modes through @CacheMemoize', () => {
  it('withCacheMode refresh/bypass on promise, sync and observable methods; storeResult guard', async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({})],
      providers: [Catalog],
    }).compile();
    await app.init();
    const c = app.get(Catalog);
    expect(await c.item(1, 1)).toBe('item1@1#1');
    expect(await c.item(1, 1)).toBe('item1@1#1');
    expect(await withCacheMode('bypass', () => c.item(1, 1))).toBe('item1@1#2');
    expect(await c.item(1, 1)).toBe('item1@1#1'); // bypass did not store
    expect(await withCacheMode('refresh', () => c.item(1, 1))).toBe('item1@1#3');
    expect(await c.item(1, 1)).toBe('item1@1#3'); // refresh stored
    // Deep inside other async code, across awaits:
    const nested = await withCacheMode('refresh', async () => {
      await sleep(1);
      return c.item(1, 1);
    });
    expect(nested).toBe('item1@1#4');

    expect(c.price(2)).toBe(25);
    expect(c.price(2)).toBe(25);
    expect(withCacheMode('refresh', () => c.price(2))).toBe(26);
    expect(c.price(2)).toBe(26);

    const first = await lastValueFrom(c.feed(1).pipe(toArray()));
    expect(await lastValueFrom(c.feed(1).pipe(toArray()))).toEqual(first);
    const refreshed = await lastValueFrom(withCacheMode('refresh', () => c.feed(1)).pipe(toArray()));
    expect(refreshed).not.toEqual(first);
    expect(await lastValueFrom(c.feed(1).pipe(toArray()))).toEqual(refreshed);

    const before = c.runs;
    await c.sendDigest(7);
    await c.sendDigest(7);
    await c.sendDigest(7);
    expect(c.runs - before).toBe(1);
    expect(await cacheHandle(c, 'item').peek(1, 1)).toEqual({ value: 'item1@1#4' });
    await app.close();
    jest.restoreAllMocks();
  });

  it('rejects timeout.soft without grace at bootstrap', async () => {
    @Injectable()
    class Bad {
      @CacheMemoize({ timeout: { soft: '1s' } })
      async m(): Promise<number> {
        return 1;
      }
    }
    const build = Test.createTestingModule({ imports: [CacheMemoizeModule.forRoot({})], providers: [Bad] }).compile();
    await expect(build.then((a) => a.init())).rejects.toThrow(
      /Bad\.m: timeout\.soft serves the stale value, so it needs grace/,
    );
  });
});

describe('memcached lock release', () => {
  it('releases its own lock by compare-and-delete (CAS through memjs)', async () => {
    const store = memcachedStore({ servers: servers.memcached[0] });
    const m = new Memoizer(store, { prefix: uniquePrefix('mcl') });
    const key = `${uniquePrefix('mcl')}:k`;
    const released: string[] = [];
    const cad = store.compareAndDelete!;
    Object.assign(store, {
      compareAndDelete: (k: string, v: Uint8Array) => (released.push(k), cad(k, v)),
    });
    expect(
      await m.getOrSet(
        key,
        async () => 'v',
        testPolicy({ ttlMs: 60_000, deps: [], lock: { waitMs: 1000, ttlMs: 60_000 } }),
      ),
    ).toBe('v');
    await m.close(5_000); // the holder releases once its entry is written, in the background
    expect(await store.get(`${key}:~lock`)).toBeUndefined();
    expect(released).toEqual([`${key}:~lock`]);
    await store.disconnect();
  });
});
