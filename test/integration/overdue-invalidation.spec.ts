/*
 * A computation past a caller's hard timeout stops being joined, but stays where invalidations
 * reach it: a key invalidation that resolved after the timeout still wins over its late value.
 * (A first design dropped overdue computations from the registry; found by review of that change.)
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, redisStore, tieredStore, cacheHandle, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
let db = 'old';
let release: (() => void) | undefined;

@Injectable()
class Rows {
  @CacheMemoize({ ttl: '1m', timeout: { hard: 50 } })
  async row(id: number): Promise<string> {
    const seen = db; // read before the slow part
    await new Promise<void>((r) => (release = r));
    return `${seen}-${id}`;
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
] as Array<[string, () => CacheStore]>)('overdue computation vs key invalidation on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    db = 'old';
    app = await appOn(make(), uniquePrefix('overdue'), [Rows]);
  });
  afterEach(async () => {
    release?.();
    await app.close();
  });

  it('a key invalidation that resolved after the hard timeout still wins over the overdue computation', async () => {
    const svc = app.get(Rows);
    await expect(svc.row(1)).rejects.toThrow(); // hard timeout
    db = 'new';
    await cacheHandle(svc, 'row').invalidate(1); // resolved
    release!(); // the old computation now returns its old value
    await new Promise((r) => setTimeout(r, 100));
    // next call: must not be the old value
    const p = svc.row(1);
    await new Promise((r) => setTimeout(r, 5));
    release?.();
    const v = await p.catch((e: Error) => e.constructor.name);
    expect(v).not.toBe('old-1');
  });
});
