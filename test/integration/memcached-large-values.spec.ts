/**
 * Values memcached does not take (larger than maxValueBytes, or than the server's -I): the entry
 * they were to replace goes too, as on the memory store, and the refusal is not an outage. Before
 * the fix, refresh()/set() of such a value resolved while the old entry stayed served (on a tiered
 * store, by every other instance), and a server whose -I is below maxValueBytes answering "Value
 * too large" a few times opened the circuit breaker: unrelated invalidations then rejected.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  cacheHandle,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  withCacheMode,
} from '../../lib';
import { MemcachedServer, RedisServer } from '../support/servers';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';
import { appOn } from '../support/app-on';

const db = new Map<number, { version: number; size: number }>();

@Injectable()
class DocService {
  runs = 0;
  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`doc:${id}`] })
  async getDoc(id: number): Promise<{ id: number; version: number; body: string }> {
    this.runs++;
    const row = db.get(id) ?? { version: 0, size: 10 };
    return { id, version: row.version, body: 'x'.repeat(row.size) };
  }
}

@Injectable()
class OtherService {
  runs = 0;
  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`other:${id}`] })
  async get(id: number): Promise<number> {
    this.runs++;
    return id;
  }
}

describe('memcached with a smaller item size than maxValueBytes (-I 512k)', () => {
  let server: MemcachedServer;
  const apps: TestingModule[] = [];
  beforeAll(async () => {
    server = await MemcachedServer.launch(['-I', '512k']);
  });
  afterAll(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await server?.stop();
  });

  it('a few too-large values do not open the breaker: an unrelated invalidation resolves and other hits still hit', async () => {
    const prefix = uniquePrefix('big');
    const app = await appOn(memcachedStore({ servers: server.address }), prefix, [DocService, OtherService]);
    apps.push(app);
    const docs = app.get(DocService);
    const other = app.get(OtherService);
    await other.get(1);
    await settle(app);
    await other.get(1);
    expect(other.runs).toBe(1); // cached
    for (let id = 0; id < 4; id++) db.set(id, { version: 1, size: 600 * 1024 });
    await Promise.all([0, 1, 2, 3].map((id) => docs.getDoc(id)));
    await settle(app);
    // memcached is up and healthy; the store refused big items only.
    let failure: unknown;
    await app
      .get(InvalidationService)
      .invalidateTags(['other:2'])
      .catch((e: unknown) => (failure = e));
    await other.get(1);
    expect({ failure: failure === undefined ? undefined : String(failure), otherRuns: other.runs }).toEqual({
      failure: undefined,
      otherRuns: 1,
    });
  }, 20_000);
});

describe('refresh()/set() of a value the store cannot take', () => {
  let server: MemcachedServer;
  let redis: RedisServer;
  const apps: TestingModule[] = [];
  beforeAll(async () => {
    [server, redis] = await Promise.all([MemcachedServer.launch(), RedisServer.launch()]);
  });
  afterAll(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all([server?.stop(), redis?.stop()]);
  });

  it.each([
    ['handle.refresh', 'memcached'],
    ['handle.set', 'memcached'],
    ['withCacheMode refresh', 'memcached'],
    ['handle.refresh', 'tiered over memcached'],
    ['handle.refresh', 'memory (maxBytes 1mb)'],
  ])('%s on %s: once it resolves, the next call returns the new version', async (how, kind) => {
    const prefix = uniquePrefix('bigref');
    const store =
      kind === 'memcached'
        ? memcachedStore({ servers: server.address })
        : kind === 'tiered over memcached'
          ? tieredStore(memoryStore(), memcachedStore({ servers: server.address }))
          : kind.startsWith('memory')
            ? memoryStore({ maxBytes: 1024 * 1024 })
            : redisStore({ url: redis.url });
    const app = await appOn(store, prefix, [DocService]);
    apps.push(app);
    const docs = app.get(DocService);
    db.set(7, { version: 1, size: 10 });
    expect((await docs.getDoc(7)).version).toBe(1);
    await settle(app);
    db.set(7, { version: 2, size: 1100 * 1024 }); // the new row is larger than memcached's item size
    const handle = cacheHandle(docs, 'getDoc');
    if (how === 'handle.refresh') await handle.refresh(7);
    else if (how === 'handle.set') await handle.set(await handle.original(7), 7);
    else await withCacheMode('refresh', () => docs.getDoc(7));
    await settle(app);
    const after = await docs.getDoc(7);
    expect(after.version).toBe(2);
  });

  it('tiered over memcached, two instances: after A refreshes to a too-large value, B (no L1 copy) does not read the old entry', async () => {
    const prefix = uniquePrefix('bigTier');
    const make = () => tieredStore(memoryStore(), memcachedStore({ servers: server.address }));
    const a = await appOn(make(), prefix, [DocService]);
    const b = await appOn(make(), prefix, [DocService]);
    apps.push(a, b);
    db.set(9, { version: 1, size: 10 });
    await a.get(DocService).getDoc(9);
    await settle(a, b);
    db.set(9, { version: 2, size: 1100 * 1024 });
    await cacheHandle(a.get(DocService), 'getDoc').refresh(9);
    await settle(a, b);
    expect({
      a: (await a.get(DocService).getDoc(9)).version,
      b: (await b.get(DocService).getDoc(9)).version,
    }).toEqual({ a: 2, b: 2 });
  });

  it('memcached: after an invalidation, a too-large recomputation is not stored and the old entry is never served', async () => {
    const prefix = uniquePrefix('bigInv');
    const app = await appOn(memcachedStore({ servers: server.address }), prefix, [DocService]);
    apps.push(app);
    const docs = app.get(DocService);
    db.set(8, { version: 1, size: 10 });
    await docs.getDoc(8);
    await settle(app);
    db.set(8, { version: 2, size: 1100 * 1024 });
    await app.get(InvalidationService).invalidateTags(['doc:8']);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      seen.push((await docs.getDoc(8)).version);
      await settle(app);
    }
    expect(seen).toEqual([2, 2, 2]);
  });
});
