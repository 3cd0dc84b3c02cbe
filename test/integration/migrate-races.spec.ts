import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * Found by review: an entry upgraded by `migrate` was written back with a plain SET, so a write
 * that landed while the old entry was being judged (another instance's put or refresh) was
 * overwritten by the upgraded older value. The write-back is a compare-and-set against the bytes
 * it judged, on every store that has one.
 */
const servers = sharedServers();
const stores: Array<[string, () => CacheStore]> = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered over redis', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
];

type Shape = { id: number; version: number; migrated?: boolean };
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;

@Injectable()
class OldCode {
  @CacheMemoize({ ttl: '1m', namespace: 'Race.user' })
  async user(id: number): Promise<Shape> {
    return { id, version: 1 };
  }
}

@Injectable()
class NewCode {
  @CacheMemoize({
    ttl: '1m',
    namespace: 'Race.user',
    // Judging an old entry takes a while (an async schema): the window another write lands in.
    validate: async (v: Shape) => {
      if (v.version !== 1) return true;
      entered();
      await gate;
      return false;
    },
    migrate: (old: unknown): Shape => ({ ...(old as Shape), version: 2, migrated: true }),
  })
  async user(id: number): Promise<Shape> {
    return { id, version: 3 };
  }
}

describe.each(stores)('a migrated entry written back on %s', (_name, make) => {
  let old: TestingModule;
  let next: TestingModule;
  beforeAll(async () => {
    const prefix = uniquePrefix('migrate-race');
    old = await appOn(make(), prefix, [OldCode]);
    next = await appOn(make(), prefix, [NewCode]);
  });
  afterAll(async () => {
    await old.close();
    await next.close();
  });

  it('never overwrites a write that landed while the old entry was judged', async () => {
    const handle = cacheHandle(next.get(NewCode), 'user');
    for (let id = 0; id < 20; id++) {
      await old.get(OldCode).user(id);
      await settle(old);
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      const judging = new Promise<void>((r) => (entered = r));
      const read = next.get(NewCode).user(id);
      await judging; // the old entry is being judged
      await handle.set({ id, version: 3 }, id); // another writer, meanwhile
      release();
      expect(await read).toEqual({ id, version: 2, migrated: true }); // the caller gets its upgrade
      await settle(next);
      expect(await handle.peek(id)).toEqual({ value: { id, version: 3 } });
    }
  });

  it('writes the upgrade back when nothing else wrote', async () => {
    const handle = cacheHandle(next.get(NewCode), 'user');
    await old.get(OldCode).user(100);
    await settle(old);
    expect(await next.get(NewCode).user(100)).toEqual({ id: 100, version: 2, migrated: true });
    await settle(next);
    expect(await handle.peek(100)).toEqual({ value: { id: 100, version: 2, migrated: true } });
  });
});
