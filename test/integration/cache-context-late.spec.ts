/*
 * cacheContext() speaks for one computation while it runs. Used after the method returned (from
 * work it did not await) it now throws CacheContextError; before, addTags was accepted and did
 * nothing, so invalidating that tag left the entry served. handle.original() runs the method
 * uncached, with a context of its own: before, its cacheContext() threw, or (called before the
 * caller's first await) its skip() cancelled the calling computation's entry. Found by review;
 * each case failed before.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheContextError,
  CacheMemoize,
  cacheContext,
  cacheHandle,
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

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Orders {
  runs = 0;
  late: Promise<void> = Promise.resolve();

  @CacheMemoize({ ttl: '1m' })
  async order(id: number): Promise<{ id: number; run: number }> {
    const cache = cacheContext();
    this.runs++;
    cache.addTags(`order:${id}`); // in time
    // The org is known only from a lookup the method does not wait for.
    this.late = sleep(5).then(() => cache.addTags('org:1'));
    this.late.catch(() => undefined); // read by the test
    return { id, run: this.runs };
  }

  @CacheMemoize({ ttl: '10m' })
  async draft(id: number): Promise<{ id: number } | null> {
    const cache = cacheContext();
    if (id < 0) {
      cache.skip();
      return null;
    }
    return { id };
  }

  @CacheMemoize({ ttl: '10m' })
  async page(id: number): Promise<{ page: number; draft: { id: number } | null; run: number }> {
    this.runs++;
    const live = cacheHandle(this as Orders, 'draft').original(-id) as Promise<{ id: number } | null>; // before the first await
    return { page: id, draft: await live, run: this.runs };
  }
}

describe.each<[string, () => CacheStore]>([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
])('cacheContext() after its computation, and handle.original(), on %s', (_name, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('ctx-late'), [Orders]);
  });
  afterEach(() => app.close());

  it('addTags after the method returned throws CacheContextError naming the method; tags given in time still bust', async () => {
    const o = app.get(Orders);
    await o.order(1);
    const error = await o.late.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CacheContextError);
    expect((error as Error).message).toContain('Orders.order');
    await settle(app);
    expect((await o.order(1)).run).toBe(1); // stored
    await app.get(InvalidationService).invalidateTags(['order:1']);
    expect((await o.order(1)).run).toBe(2);
  });

  it('handle.original() runs the method uncached with a context of its own', async () => {
    const o = app.get(Orders);
    await expect(cacheHandle(o, 'draft').original(5)).resolves.toEqual({ id: 5 });
    expect((await o.page(1)).run).toBe(1);
    await settle(app);
    expect((await o.page(1)).run).toBe(1); // page(1) was stored: the draft's skip() was not its
  });
});
