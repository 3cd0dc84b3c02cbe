/*
 * refresh(), set() and withCacheMode('refresh') on a method with `lock` replace what is stored:
 * they never wait for another holder, nor take its value (the entry they were asked to replace).
 * Before, a refresh finding the lock busy polled and returned the old fresh entry, and on one
 * instance the second of two refreshes cancelled the first's write: the cache kept the old value
 * until its ttl; a set() was dropped. Found by review; all 9 cases failed before.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
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
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let db = 'v1';
let runs = 0;

@Injectable()
class Reports {
  @CacheMemoize({ ttl: '1m', lock: true })
  async get(id: number): Promise<string> {
    runs++;
    const seen = db; // reads the data first, then works
    await sleep(150);
    return `${seen}-${id}`;
  }

  @CacheMemoize({ ttl: 600, refreshAhead: 500, lock: true })
  async ahead(id: number): Promise<string> {
    runs++;
    const seen = db;
    await sleep(300);
    return `${seen}-${id}`;
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('lock + refresh on %s', (_n, make) => {
  let a: TestingModule;
  let b: TestingModule;
  beforeEach(async () => {
    const prefix = uniquePrefix('lockrefresh');
    a = await appOn(make(), prefix, [Reports]);
    b = await appOn(make(), prefix, [Reports]);
    db = 'v1';
    runs = 0;
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('two concurrent refresh() calls started after the data changed: both get the new value, and the cache holds it', async () => {
    const svc = a.get(Reports);
    expect(await svc.get(1)).toBe('v1-1');
    await settle(a);
    db = 'v2';
    const h = cacheHandle(svc, 'get');
    const results = await Promise.all([h.refresh(1), h.refresh(1)]);
    await settle(a);
    const after = await svc.get(1);
    expect({ results, after }).toEqual({ results: ['v2-1', 'v2-1'], after: 'v2-1' });
    expect(runs).toBe(3); // the warm-up, then each refresh computes (neither waits for the other's lock)
  });

  it("withCacheMode('refresh') on instance B while A's refresh-ahead holds the lock returns the new value", async () => {
    const sa = a.get(Reports);
    const sb = b.get(Reports);
    expect(await sa.ahead(1)).toBe('v1-1');
    await settle(a);
    await sleep(150); // within refreshAhead: the next hit refreshes (under the lock, 300 ms)
    expect(await sa.ahead(1)).toBe('v1-1'); // A's background refresh reads db = v1 and holds the lock
    await sleep(20);
    db = 'v2';
    const fresh = await withCacheMode('refresh', () => sb.ahead(1)); // started after the change
    expect(fresh).toBe('v2-1');
  });

  it("handle.set() while another instance's computation holds the lock: the set value is stored", async () => {
    const sa = a.get(Reports);
    const sb = b.get(Reports);
    expect(await sa.ahead(1)).toBe('v1-1');
    await settle(a);
    await sleep(150);
    expect(await sa.ahead(1)).toBe('v1-1'); // A refreshes in the background, holding the lock
    await sleep(20);
    await cacheHandle(sb, 'ahead').set('manual', 1); // "resolves once stored"
    const peek = await cacheHandle(sb, 'ahead').peek(1);
    expect(peek).toEqual({ value: 'manual' });
  });
});
