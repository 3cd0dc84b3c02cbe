/*
 * @CachePut's entry must never undo an invalidation that resolved: its method's value is written
 * after the method returns, so the entry records the versions read before the method ran (an
 * invalidation of its tags meanwhile leaves it stale), and two puts of one key racing leave the
 * row last written, not the slower response (the later-finishing put whose key was put again
 * since only invalidates). On memory, Redis, memcached and tiered.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  CachePut,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';

const servers = sharedServers();
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const db = new Map<number, string>();
let wrote: () => void = () => undefined;

let sourceReads = 0;

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`user:${id}`], namespace: 'Users.getUser' })
  async getUser(id: number): Promise<string> {
    sourceReads++;
    return db.get(id) ?? 'none';
  }

  /** The batch form of the same entries (one namespace). */
  @CacheMemoizeMany({ ttl: '1h', tags: (id: number) => [`user:${id}`], namespace: 'Users.getUser' })
  async getUsers(ids: number[]): Promise<string[]> {
    sourceReads += ids.length;
    return ids.map((id) => db.get(id) ?? 'none');
  }
}

@Injectable()
class Writer {
  /** Writes the row, then (e.g. re-reading it, an audit log...) returns it `delay` ms later. */
  @CachePut({ method: [Users, 'getUser'], args: (id: number) => [id] })
  async rename(id: number, name: string, delay = 0): Promise<string> {
    db.set(id, name);
    wrote();
    if (delay) await sleep(delay);
    return name;
  }

  constructor(private readonly users: Users) {}

  /** Writes the row, then returns it read through the memoized getter (the entry it replaces is cached). */
  @CachePut({ method: [Users, 'getUser'], args: (id: number) => [id] })
  async renameAndReread(id: number, name: string): Promise<string> {
    db.set(id, name);
    return this.users.getUser(id);
  }

  /** Re-reads the row through the batch getter of the same entries. */
  @CachePut({ method: [Users, 'getUser'], args: (id: number) => [id] })
  async renameViaMany(id: number, name: string): Promise<string> {
    db.set(id, name);
    const [row] = await this.users.getUsers([id, id + 1]);
    return row;
  }

  /** Leaves a read of the row behind (an audit job, a warmer): it runs after the put settled. */
  @CachePut({ method: [Users, 'getUser'], args: (id: number) => [id] })
  async renameAndSchedule(
    id: number,
    name: string,
    after: Promise<void>,
    read: (row: string) => void,
  ): Promise<string> {
    db.set(id, name);
    void after.then(async () => read(await this.users.getUser(id))); // runs in this method's async context
    return name;
  }

  /** Not declared async: it throws before returning a promise. */
  @CachePut({ method: [Users, 'getUser'], args: (id: number) => [id] })
  broken(id: number): Promise<string> {
    throw new Error(`no row ${id}`);
  }
}

const stores: Record<string, () => CacheStore> = {
  memory: () => memoryStore(),
  redis: () => redisStore({ url: servers.redis }),
  memcached: () => memcachedStore({ servers: servers.memcached.join(',') }),
  tiered: () => tieredStore(memoryStore(), redisStore({ url: servers.redis })),
};

async function boot(store: () => CacheStore) {
  const m = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store() }, prefix: uniquePrefix('rvput') })],
    providers: [Users, Writer],
  }).compile();
  await m.init();
  return m;
}

for (const [name, store] of Object.entries(stores)) {
  describe(`@CachePut on ${name}`, () => {
    it('a method that throws rejects with its error and changes nothing; the next put works', async () => {
      const m = await boot(store);
      db.set(500, 'old');
      expect(await m.get(Users).getUser(500)).toBe('old');
      await settle(m);
      db.set(500, 'changed behind the cache');
      await expect(m.get(Writer).broken(500)).rejects.toThrow('no row 500');
      expect(await m.get(Users).getUser(500)).toBe('old'); // still the entry
      await m.get(Writer).rename(500, 'new');
      await settle(m);
      expect(await m.get(Users).getUser(500)).toBe('new');
      await m.close();
    });

    it('a put method that re-reads its row through the memoized getter stores the new row, not the old entry', async () => {
      const m = await boot(store);
      const users = m.get(Users);
      db.set(600, 'old');
      db.set(601, 'other');
      expect(await users.getUser(600)).toBe('old');
      expect(await users.getUser(601)).toBe('other');
      await settle(m);
      expect(await m.get(Writer).renameAndReread(600, 'new')).toBe('new');
      await settle(m);
      expect(await users.getUser(600)).toBe('new');
      // Only the put's own key reads the source: other entries are still served from the cache.
      db.set(601, 'changed behind the cache');
      expect(await m.get(Writer).renameAndReread(600, 'newer')).toBe('newer');
      expect(await users.getUser(601)).toBe('other');
      await m.close();
    });

    it('a put method re-reading through the @CacheMemoizeMany getter of the same entries stores the new row', async () => {
      const m = await boot(store);
      const users = m.get(Users);
      db.set(610, 'old');
      db.set(611, 'neighbour');
      expect(await users.getUsers([610, 611])).toEqual(['old', 'neighbour']);
      await settle(m);
      expect(await m.get(Writer).renameViaMany(610, 'new')).toBe('new');
      await settle(m);
      expect(await users.getUser(610)).toBe('new');
      await m.close();
    });

    it('only while the put method runs: a read it leaves behind is served from the cache', async () => {
      const m = await boot(store);
      const users = m.get(Users);
      db.set(620, 'old');
      await users.getUser(620);
      let go: () => void = () => undefined;
      const after = new Promise<void>((resolve) => (go = resolve));
      let read: (row: string) => void = () => undefined;
      const row = new Promise<string>((resolve) => (read = resolve));
      await m.get(Writer).renameAndSchedule(620, 'new', after, read);
      await settle(m);
      sourceReads = 0;
      db.set(620, 'changed behind the cache');
      go();
      expect(await row).toBe('new'); // the put's entry, not a read of the source
      expect(sourceReads).toBe(0);
      await m.close();
    });

    it('an invalidation that resolved after the put method wrote its row is not undone by the put', async () => {
      const m = await boot(store);
      const invalidation = m.get(InvalidationService);
      let stale = 0;
      const rounds = 100;
      for (let r = 0; r < rounds; r++) {
        // Request 1: rename to 'a' (its write lands, its response is a little slow).
        const written = new Promise<void>((resolve) => (wrote = resolve));
        const put = m.get(Writer).rename(r, 'a', 10);
        await written;
        // Request 2: another write path changes the row and busts the entry; the bust resolves.
        db.set(r, 'c');
        await invalidation.invalidateTags([`user:${r}`]);
        await put;
        await settle(m);
        // A call that starts after the invalidation resolved must not get a value from before it.
        if ((await m.get(Users).getUser(r)) !== 'c') stale++;
      }
      await m.close();
      expect(`${stale} of ${rounds} rounds served the pre-invalidation value`).toBe(
        `0 of ${rounds} rounds served the pre-invalidation value`,
      );
    }, 60_000);

    it('two concurrent puts: the cache ends with the row as last written, not the slower response', async () => {
      const m = await boot(store);
      const w = m.get(Writer);
      let wrong = 0;
      const rounds = 100;
      for (let r = 1000; r < 1000 + rounds; r++) {
        // 'a' is written first, 'b' last; 'a''s method returns 5 ms later.
        await Promise.all([w.rename(r, 'a', 5), w.rename(r, 'b', 0)]);
        await settle(m);
        if ((await m.get(Users).getUser(r)) !== db.get(r)) wrong++;
      }
      await m.close();
      expect(`${wrong} of ${rounds} rounds cached a value the DB no longer holds`).toBe(
        `0 of ${rounds} rounds cached a value the DB no longer holds`,
      );
    }, 60_000);
  });
}
