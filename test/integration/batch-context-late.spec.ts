/*
 * A @CacheMemoizeMany load's cacheContext() used after the load settled throws CacheContextError,
 * as a single method's does (found by review; it was accepted and lost).
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheContextError, CacheMemoizeMany, cacheContext, memoryStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Items {
  late: Promise<unknown> = Promise.resolve();
  @CacheMemoizeMany({ ttl: '1m' })
  async many(ids: number[]): Promise<number[]> {
    const cache = cacheContext();
    this.late = sleep(5).then(() => cache.addTags('org:1')); // not awaited
    this.late.catch(() => undefined);
    return ids;
  }
}

describe("a batch method's cacheContext() handle used after its load returned", () => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(memoryStore(), uniquePrefix('bctx'), [Items]);
  });
  afterEach(() => app.close());

  it("throws CacheContextError, as a single method's does (README)", async () => {
    const s = app.get(Items);
    expect(await s.many([1, 2])).toEqual([1, 2]);
    const outcome = await s.late.then(
      () => 'accepted (and lost)',
      (e: unknown) => (e instanceof CacheContextError ? 'CacheContextError' : String(e)),
    );
    await settle(app);
    expect(outcome).toBe('CacheContextError');
  });
});
