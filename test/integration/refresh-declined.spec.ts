/*
 * An explicit refresh replaces what is cached, even when the new result is not to be stored
 * (the README's own `if (!row) cache.skip()`, a cacheIf, a ttl of 0): the old entry is removed, so
 * a deleted row is not served for the rest of its ttl. A refresh of a cacheErrors method stores
 * the error it found (and throws it to the refresher). withCacheMode holds for CacheService's
 * getOrSet as for memoized methods. Found by review; each case failed before.
 */
import 'reflect-metadata';
import { Injectable, NotFoundException } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheService,
  cacheContext,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  withCacheMode,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

type Row = { id: number; name: string };
const rows = new Map<number, Row>();

@Injectable()
class Profiles {
  runs = 0;

  @CacheMemoize({ ttl: '10m' })
  async profile(id: number): Promise<Row | null> {
    const cache = cacheContext();
    this.runs++;
    const row = rows.get(id) ?? null;
    await Promise.resolve();
    if (!row) cache.skip();
    return row;
  }

  @CacheMemoize({ ttl: '10m', cacheIf: (r: Row | null) => r !== null })
  async byCacheIf(id: number): Promise<Row | null> {
    this.runs++;
    return rows.get(id) ?? null;
  }

  @CacheMemoize({ ttl: '10m', cacheErrors: { when: [NotFoundException], ttl: '1m' } })
  async product(id: number): Promise<Row> {
    this.runs++;
    const row = rows.get(id);
    if (!row) throw new NotFoundException(`product ${id} not found`);
    return row;
  }
}

describe.each<[string, () => CacheStore]>([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
])('a refresh whose new result is not stored, on %s', (_name, make) => {
  let app: TestingModule;
  let second: TestingModule | undefined;
  beforeEach(async () => {
    rows.clear();
    const prefix = uniquePrefix('refresh-declined');
    app = await appOn(make(), prefix, [Profiles]);
    // Shared stores: a second instance must not keep serving the old entry either.
    second = _name === 'memory' ? undefined : await appOn(make(), prefix, [Profiles]);
  });
  afterEach(async () => {
    await app.close();
    await second?.close();
  });

  async function cached(method: 'profile' | 'byCacheIf', id: number): Promise<void> {
    rows.set(id, { id, name: `user${id}` });
    for (const a of [app, second]) if (a) expect(await a.get(Profiles)[method](id)).toEqual(rows.get(id));
    await settle(...[app, second].filter((a) => a !== undefined));
    rows.delete(id);
  }

  async function everyoneSees(method: 'profile' | 'byCacheIf', id: number, expected: unknown): Promise<void> {
    await settle(...[app, second].filter((a) => a !== undefined));
    for (const a of [app, second]) if (a) expect(await a.get(Profiles)[method](id)).toEqual(expected);
  }

  it("withCacheMode('refresh') after the row was deleted (cacheContext().skip())", async () => {
    await cached('profile', 1);
    expect(await withCacheMode('refresh', () => app.get(Profiles).profile(1))).toBeNull();
    await everyoneSees('profile', 1, null);
  });

  it('handle.refresh() after the row was deleted (cacheIf false)', async () => {
    await cached('byCacheIf', 2);
    expect(await cacheHandle(app.get(Profiles), 'byCacheIf').refresh(2)).toBeNull();
    await everyoneSees('byCacheIf', 2, null);
  });

  it('control: a refresh whose result is stored serves the new value', async () => {
    await cached('profile', 3);
    rows.set(3, { id: 3, name: 'renamed' });
    expect(await cacheHandle(app.get(Profiles), 'profile').refresh(3)).toEqual({ id: 3, name: 'renamed' });
    await everyoneSees('profile', 3, { id: 3, name: 'renamed' });
  });

  it("withCacheMode('refresh') of a cacheErrors method: the 404 it found is stored and thrown", async () => {
    const p = app.get(Profiles);
    rows.set(4, { id: 4, name: 'widget' });
    await p.product(4);
    await settle(app);
    rows.delete(4);
    await expect(withCacheMode('refresh', () => p.product(4))).rejects.toBeInstanceOf(NotFoundException);
    await settle(app);
    const runs = p.runs;
    await expect(p.product(4)).rejects.toBeInstanceOf(NotFoundException);
    expect(p.runs).toBe(runs); // the cached 404, not a recomputation
  });

  it("withCacheMode holds for CacheService.getOrSet: 'bypass' neither reads nor writes, 'refresh' recomputes", async () => {
    const cache = app.get(CacheService);
    await cache.getOrSet('report', async () => 'cached', { ttl: '1m' });
    await settle(app);
    const live = await withCacheMode('bypass', () => cache.getOrSet('report', async () => 'live', { ttl: '1m' }));
    expect(live).toBe('live');
    expect(await cache.getOrSet('report', async () => 'unused', { ttl: '1m' })).toBe('cached');
    const fresh = await withCacheMode('refresh', () =>
      cache.getOrSet('report', async () => 'recomputed', { ttl: '1m' }),
    );
    expect(fresh).toBe('recomputed');
    await settle(app);
    expect(await cache.getOrSet('report', async () => 'unused', { ttl: '1m' })).toBe('recomputed');
  });
});
