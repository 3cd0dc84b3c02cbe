/*
 * The user-level form of replace-overtaken.spec: a @CacheMemoize method with resultTags; the row is
 * updated and the app calls handle.refresh(); meanwhile another request invalidates an unrelated
 * tag. The next call must return the new row, not the one cached before the refresh (found by review).
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
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
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rows = new Map<number, { id: number; org: number } | null>();

@Injectable()
class Users {
  @CacheMemoize({ ttl: '10m', resultTags: (u: { org: number } | null) => (u ? [`org:${u.org}`] : []) })
  async user(id: number): Promise<{ id: number; org: number } | null> {
    const row = rows.get(id) ?? null;
    await sleep(30);
    return row;
  }
}

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered over redis', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('%s', (_n, make) => {
  let app: TestingModule | undefined;
  afterAll(() => app?.close());

  it('handle.refresh() after the row changed, racing an unrelated invalidateTags: the old row is not served afterwards', async () => {
    app = await appOn(make(), uniquePrefix('rtn'), [Users]);
    const users = app.get(Users);
    const invalidation = app.get(InvalidationService);
    rows.set(7, { id: 7, org: 1 });
    expect(await users.user(7)).toEqual({ id: 7, org: 1 });
    await sleep(100); // written
    rows.set(7, { id: 7, org: 2 }); // the row changed
    const refreshing = cacheHandle(users, 'user').refresh(7);
    await sleep(5);
    await invalidation.invalidateTags(['something-else']);
    expect(await refreshing).toEqual({ id: 7, org: 2 });
    expect(await users.user(7)).toEqual({ id: 7, org: 2 });
  });
});
