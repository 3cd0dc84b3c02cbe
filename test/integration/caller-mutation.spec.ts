/*
 * On a shared store, what is written is the value as the method returned it. A caller that
 * changes the object it got (a per-request field, a deleted secret) must not change the entry
 * other callers, in any instance, are served — also when the write first reads the versions of
 * the result's own tags (resultTags, cacheContext().addTags, batch items), which takes a round
 * trip after the caller already has the value. (Memory-store hits are shared objects: README.)
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  cacheContext,
  redisStore,
  memcachedStore,
  type CacheEvent,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';

const servers = sharedServers();

type Profile = { id: number; name: string; viewer?: string; orgId: number };

@Injectable()
class Profiles {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async plain(id: number): Promise<Profile> {
    this.runs++;
    return { id, name: `user-${id}`, orgId: 7 };
  }
  @CacheMemoize({ ttl: '1h', resultTags: (p: Profile) => [`org:${p.orgId}`] })
  async tagged(id: number): Promise<Profile> {
    this.runs++;
    return { id, name: `user-${id}`, orgId: 7 };
  }
  @CacheMemoize({ ttl: '1h' })
  async contextTagged(id: number): Promise<Profile> {
    const cache = cacheContext();
    this.runs++;
    await Promise.resolve();
    cache.addTags('org:7');
    return { id, name: `user-${id}`, orgId: 7 };
  }
  @CacheMemoize({ ttl: '1h', lock: true })
  async locked(id: number): Promise<Profile> {
    this.runs++;
    return { id, name: `user-${id}`, orgId: 7 };
  }
  @CacheMemoizeMany({ ttl: '1h', resultTags: (p: Profile) => [`org:${p.orgId}`], namespace: 'Profiles.many' })
  async many(ids: number[]): Promise<Profile[]> {
    this.runs++;
    return ids.map((id) => ({ id, name: `user-${id}`, orgId: 7 }));
  }
}

const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

async function app(store: () => CacheStore, prefix: string) {
  const events: CacheEvent[] = [];
  const module = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store() }, prefix, onEvent: (e) => events.push(e) })],
    providers: [Profiles],
  }).compile();
  opened.push(module);
  await module.init();
  return { module, profiles: module.get(Profiles), events };
}

const stores: Array<[string, () => CacheStore]> = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
];

describe.each(stores)('a caller decorating its own result on %s', (_name, store) => {
  for (const method of ['plain', 'tagged', 'contextTagged', 'locked'] as const) {
    it(`${method}: another instance never gets the first caller's per-request field`, async () => {
      const prefix = uniquePrefix(`mut${method}`);
      const a = await app(store, prefix);
      const b = await app(store, prefix);
      // Caller in instance A (say, a controller) annotates the object it was handed.
      const mine = await a.profiles[method](1);
      mine.viewer = 'alice-session-token';
      await settle(a.module, b.module);
      // Another user, served by instance B from the shared store.
      const theirs = await b.profiles[method](1);
      expect(b.profiles.runs).toBe(0); // a hit from the shared store
      expect(theirs.viewer).toBeUndefined();
    });
  }

  it("@CacheMemoizeMany with resultTags: another instance never gets the first caller's per-request field", async () => {
    const prefix = uniquePrefix('mutmany');
    const a = await app(store, prefix);
    const b = await app(store, prefix);
    const [mine] = await a.profiles.many([1]);
    mine.viewer = 'alice-session-token';
    await settle(a.module, b.module);
    const [theirs] = await b.profiles.many([1]);
    expect(b.profiles.runs).toBe(0);
    expect(theirs.viewer).toBeUndefined();
  });
});

describe.each(stores)("a call made while the previous call's write is still on its way on %s", (_name, store) => {
  it('gets its own copy, not the object the first caller holds (and decorated)', async () => {
    const prefix = uniquePrefix('mutpending');
    const a = await app(store, prefix);
    const first = await a.profiles.plain(2);
    first.viewer = 'alice-session-token';
    const second = await a.profiles.plain(2); // another request, same instance, write not yet landed
    expect(a.profiles.runs).toBe(1);
    expect(second).not.toBe(first);
    expect(second.viewer).toBeUndefined();
  });
});

describe.each(stores)('callers that joined a computation on %s', (_name, store) => {
  it('each get their own copy, as hits do: one caller changing its object changes no other', async () => {
    const a = await app(store, uniquePrefix('mutjoin'));
    const all = await Promise.all([a.profiles.plain(3), a.profiles.plain(3), a.profiles.plain(3)]);
    expect(a.profiles.runs).toBe(1);
    expect(new Set(all).size).toBe(3);
    all[0].viewer = 'alice-session-token';
    expect(all.map((p) => p.viewer)).toEqual(['alice-session-token', undefined, undefined]);
    expect(all[1]).toEqual({ id: 3, name: 'user-3', orgId: 7 });
  });
});
