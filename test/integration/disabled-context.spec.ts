/*
 * New user's trial: with `enabled: false` (a kill switch in tests or an incident), methods written
 * as the README shows (cacheContext() at the start) threw CacheContextError, as did a getOrSet
 * factory using it, and a write path invalidating through cacheHandle() threw UnknownMethodError.
 * A request-scoped provider's memoized method threw the same. Each now runs as written: the
 * context speaks for nothing, and the handle's writes do nothing.
 */
import 'reflect-metadata';
import { Injectable, Scope } from '@nestjs/common';
import { ContextIdFactory } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  CacheService,
  cacheContext,
  cacheHandle,
  UnknownMethodError,
} from '../../lib';

@Injectable()
class Profiles {
  runs = 0;
  @CacheMemoize({ ttl: '10m' })
  async getProfile(id: number): Promise<{ id: number } | null> {
    const cache = cacheContext();
    this.runs++;
    await Promise.resolve();
    if (id === 0) cache.skip();
    else cache.setTtl('30s');
    return id === 0 ? null : { id };
  }

  @CacheMemoizeMany({ ttl: '10m' })
  async getProfiles(ids: number[]): Promise<Array<{ id: number }>> {
    const cache = cacheContext();
    this.runs++;
    await Promise.resolve();
    cache.addTags('profiles');
    return ids.map((id) => ({ id }));
  }

  async rename(id: number): Promise<void> {
    await cacheHandle(this as Profiles, 'getProfile').invalidate(id);
    await cacheHandle(this as Profiles, 'getProfiles').invalidateMany([id]);
  }
}

@Injectable({ scope: Scope.REQUEST })
class ScopedProfiles extends Profiles {}

const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0)) await m.close();
});

async function boot(enabled: boolean) {
  const module = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ enabled })],
    providers: [Profiles, ScopedProfiles],
  }).compile();
  opened.push(module);
  await module.init();
  return module;
}

describe('enabled: false', () => {
  it('methods using cacheContext() run as written, every call', async () => {
    const profiles = (await boot(false)).get(Profiles);
    expect(await profiles.getProfile(1)).toEqual({ id: 1 });
    expect(await profiles.getProfile(1)).toEqual({ id: 1 });
    expect(await profiles.getProfile(0)).toBeNull();
    expect(await profiles.getProfiles([1, 2])).toEqual([{ id: 1 }, { id: 2 }]);
    expect(profiles.runs).toBe(4);
  });

  it("a handle's invalidations and writes do nothing, its lookups find nothing, and it has no key", async () => {
    const profiles = (await boot(false)).get(Profiles);
    await expect(profiles.rename(1)).resolves.toBeUndefined();
    const handle = cacheHandle(profiles, 'getProfile');
    await expect(handle.peek(1)).resolves.toBeUndefined();
    await expect(handle.set({ id: 9 }, 1)).resolves.toBeUndefined();
    await expect(handle.expireIn('1s', 1)).resolves.toBe(false);
    await expect(handle.refresh(1)).resolves.toEqual({ id: 1 });
    await expect(handle.original(1)).resolves.toEqual({ id: 1 });
    expect(() => handle.keyOf(1)).toThrow(UnknownMethodError);
    expect(() => handle.keyOf(1)).toThrow(/enabled: false/);
    await expect(cacheHandle(profiles, 'getProfiles').peekMany([1, 2])).resolves.toEqual([undefined, undefined]);
  });

  it('a getOrSet factory using cacheContext() runs as written', async () => {
    const cache = (await boot(false)).get(CacheService);
    const factory = async () => {
      const context = cacheContext();
      await Promise.resolve();
      context.setTtl('5s');
      return 43;
    };
    await expect(cache.getOrSet('k', factory)).resolves.toBe(43);
    await expect(
      cache.getOrSetMany(['a', 'b'], async (keys) => {
        cacheContext().addTags('t');
        return keys.map((k) => k.toUpperCase());
      }),
    ).resolves.toEqual(['A', 'B']);
  });
});

describe('a disabled app, closed, then an enabled one', () => {
  it("the enabled app's handles are not pass-through (review: invalidate() silently did nothing)", async () => {
    const disabled = await boot(false);
    await disabled.close();
    opened.splice(opened.indexOf(disabled), 1);
    const module = await boot(true);
    const scoped = await module.resolve(ScopedProfiles, ContextIdFactory.create());
    expect(() => cacheHandle(scoped as Profiles, 'getProfile')).toThrow(UnknownMethodError);
    const singleton = module.get(Profiles);
    await expect(cacheHandle(singleton, 'getProfile').invalidate(1)).resolves.toBeUndefined();
    expect(cacheHandle(singleton, 'getProfile').keyOf(1)).toContain('Profiles.getProfile');
  });
});

describe('a request-scoped provider (cache enabled)', () => {
  it('runs its memoized methods uncached, cacheContext() included', async () => {
    const module = await boot(true);
    const contextId = ContextIdFactory.create();
    const scoped = await module.resolve(ScopedProfiles, contextId);
    expect(await scoped.getProfile(1)).toEqual({ id: 1 });
    expect(await scoped.getProfile(1)).toEqual({ id: 1 });
    expect(await scoped.getProfiles([1])).toEqual([{ id: 1 }]);
    expect(scoped.runs).toBe(3);
  });
});
