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
 * An entry that fails `validate` is deleted — only the bytes that were judged, where the store can
 * compare. A valid entry another instance wrote while the old one was being judged is kept: with
 * a plain DELETE it was removed, and when this call's own computation then failed (the database
 * down), every instance had to compute again.
 */
const servers = sharedServers();
const stores: Array<[string, () => CacheStore]> = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered over redis', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
];

type Shape = { id: number; version: number };
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;
let failing = false;

@Injectable()
class OldCode {
  @CacheMemoize({ ttl: '1m', namespace: 'Race.invalid' })
  async user(id: number): Promise<Shape> {
    return { id, version: 1 };
  }
}

@Injectable()
class NewCode {
  @CacheMemoize({
    ttl: '1m',
    namespace: 'Race.invalid',
    // Judging an old entry takes a while (an async schema): the window another write lands in.
    validate: async (v: Shape) => {
      if (v.version !== 1) return true;
      entered();
      await gate;
      return false;
    },
  })
  async user(id: number): Promise<Shape> {
    if (failing) throw new Error('database down');
    return { id, version: 2 };
  }
}

describe.each(stores)('an invalid entry deleted on %s', (_name, make) => {
  let old: TestingModule;
  let next: TestingModule;
  let probe: TestingModule; // a third instance, without validate and with nothing in L1: what the store holds
  beforeAll(async () => {
    const prefix = uniquePrefix('invalid-race');
    old = await appOn(make(), prefix, [OldCode]);
    next = await appOn(make(), prefix, [NewCode]);
    probe = await appOn(make(), prefix, [OldCode]);
  });
  afterAll(async () => {
    await old.close();
    await next.close();
    await probe.close();
  });
  afterEach(() => {
    failing = false;
  });

  it('never deletes a valid entry written while the old one was judged', async () => {
    const handle = cacheHandle(next.get(NewCode), 'user');
    for (let id = 0; id < 20; id++) {
      await old.get(OldCode).user(id);
      await settle(old);
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      const judging = new Promise<void>((r) => (entered = r));
      failing = true; // this call's own computation fails
      const read = next.get(NewCode).user(id);
      await judging;
      await handle.set({ id, version: 2 }, id); // another instance's computation, meanwhile
      release();
      await expect(read).rejects.toThrow('database down');
      await settle(next);
      expect([id, await handle.peek(id)]).toEqual([id, { value: { id, version: 2 } }]);
    }
  });

  it('deletes the invalid entry when nothing else wrote', async () => {
    const raw = cacheHandle(probe.get(OldCode), 'user');
    await old.get(OldCode).user(100);
    await settle(old);
    expect(await raw.peek(100)).toEqual({ value: { id: 100, version: 1 } });
    await settle(old);
    failing = true;
    await expect(next.get(NewCode).user(100)).rejects.toThrow('database down');
    await settle(next);
    expect(await raw.peek(100)).toBeUndefined();
    failing = false;
    expect(await next.get(NewCode).user(100)).toEqual({ id: 100, version: 2 });
  });
});
