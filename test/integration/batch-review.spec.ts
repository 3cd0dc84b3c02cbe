/**
 * Batch memoization and the direct API under review: a batch sharing its namespace with a
 * storeResult: false method, record ids of one String() with some cached, cacheErrors on a batch,
 * a chunked call's error message, key lists that are strings, and a batch one of whose ids waits on
 * another instance's lock. Each case failed before its fix.
 */
import 'reflect-metadata';
import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import {
  BatchResultError,
  InvalidationService,
  CacheMemoize,
  CacheMemoizeMany,
  CacheService,
  InvalidArgumentError,
  InvalidOptionError,
  NamespaceConflictError,
  cacheHandle,
  memoryStore,
  redisStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

/** A "send at most once per ttl" guard (storeResult: false) beside a batch of the same namespace. */
@Injectable()
class Notifier {
  @CacheMemoize({ ttl: '1m', namespace: 'Notifier.user', storeResult: false })
  async touchUser(id: number): Promise<string> {
    return `user ${id}`;
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'Notifier.user' })
  async users(ids: number[]): Promise<string[]> {
    return ids.map((id) => `user ${id}`);
  }
}

@Injectable()
class Records {
  loads: Array<Array<string | number>> = [];
  @CacheMemoizeMany({ ttl: '1m', result: 'record' })
  async rec(ids: Array<string | number>): Promise<Record<string, string>> {
    this.loads.push([...ids]);
    return Object.fromEntries(ids.map((id) => [String(id), `${typeof id} ${String(id)}`]));
  }
}

/** cacheErrors on a batch, as a JavaScript caller or a cast passes it. */
@Injectable()
class Errs {
  @CacheMemoizeMany({ ttl: '1m', ...({ cacheErrors: { when: [NotFoundException], ttl: '30s' } } as object) })
  async items(ids: number[]): Promise<number[]> {
    if (ids.includes(13)) throw new NotFoundException('13 not found');
    return ids;
  }
}

@Injectable()
class Chunked {
  @CacheMemoizeMany({ ttl: '1m', maxBatch: 2 })
  async misaligned(ids: number[]): Promise<number[]> {
    return ids.includes(3) ? [0] : ids.map((i) => i * 10);
  }
}

/** A lock holder whose computation ends when the test says so, beside a batch of the same namespace. */
@Injectable()
class Locked {
  gate: Promise<void> = Promise.resolve();
  loads: number[][] = [];
  @CacheMemoize({ ttl: '1m', namespace: 'Locked.byId', lock: { timeout: '10s' } })
  async one(id: number): Promise<string> {
    await this.gate;
    return `one ${id}`;
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'Locked.byId' })
  async many(ids: number[]): Promise<string[]> {
    this.loads.push([...ids]);
    return ids.map((id) => `many ${id}`);
  }
}

async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe('bootstrap refuses what a batch cannot honour', () => {
  it('a batch sharing its namespace with a storeResult: false method (its markers would be served as items)', async () => {
    const error = await appOn(memoryStore(), uniquePrefix('b-marks'), [Notifier]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NamespaceConflictError);
    expect(String(error)).toMatch(/Notifier\.(users|touchUser).*namespace 'Notifier\.user'.*storeResult option/);
  });

  it('cacheErrors on a batch method', async () => {
    const error = await appOn(memoryStore(), uniquePrefix('b-errs'), [Errs]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(String(error)).toContain(
      '@CacheMemoizeMany on Errs.items: option cacheErrors does not apply to a batch method',
    );
  });
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('batch and direct calls on %s', (_name, make) => {
  it('record ids of one String() are refused on every call, whatever is cached (never one dropped)', async () => {
    const app = await appOn(make(), uniquePrefix('b-rec'), [Records]);
    try {
      const svc = app.get(Records);
      await svc.rec([1]);
      await svc.rec(['1']);
      await settle(app);
      for (const ids of [
        [1, '1'],
        ['1', 1],
        [2, 1, '1'],
      ]) {
        const error = await svc.rec(ids).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BatchResultError);
        expect(String(error)).toContain('two of them are "1" as record keys');
      }
      // The refused calls loaded nothing; one String() per id is fine.
      expect(svc.loads).toEqual([[1], ['1']]);
      expect(await svc.rec([0, -0])).toEqual({ 0: 'number 0' });
    } finally {
      await app.close();
    }
  });

  it("a misaligned chunk's error says which ids were not cached, and the other chunk's are", async () => {
    const app = await appOn(make(), uniquePrefix('b-chunk'), [Chunked]);
    try {
      const svc = app.get(Chunked);
      const error = await svc.misaligned([1, 2, 3, 4]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BatchResultError);
      expect(String(error)).toContain('was called with 2 ids [3, 4]');
      expect(String(error)).toContain('None of these ids was cached by this call.');
      await settle(app);
      const peeked = await cacheHandle(svc, 'misaligned').peekMany([1, 2, 3, 4]);
      expect(peeked.map((p) => p?.value)).toEqual([10, 20, undefined, undefined]);
    } finally {
      await app.close();
    }
  });

  it('CacheService.getOrSetMany and getMany refuse a string for the key list (it would be split into letters)', async () => {
    const app = await appOn(make(), uniquePrefix('b-keys'), []);
    try {
      const cache = app.get(CacheService);
      const seen: string[][] = [];
      const factory = async (missing: string[]) => (seen.push(missing), missing.map((k) => `v-${k}`));
      const set = cache.getOrSetMany('abc' as unknown as string[], factory);
      await expect(set).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(set).rejects.toThrow('CacheService.getOrSetMany: expected an array of keys, got the string "abc"');
      const get = cache.getMany('abc' as unknown as string[]); // a rejected promise, never a synchronous throw
      await expect(get).rejects.toThrow('CacheService.getMany: expected an array of keys, got the string "abc"');
      await settle(app);
      expect([seen, await cache.get('a')]).toEqual([[], undefined]);
      expect(await cache.getOrSetMany(['a'], factory)).toEqual(['v-a']);
    } finally {
      await app.close();
    }
  });
});

describe('a batch beside a lock held by another instance (Redis)', () => {
  it.each([false, true])(
    'its other ids load at once while one id waits on the lock (after an unrelated invalidation: %s)',
    async (invalidated) => {
      const prefix = uniquePrefix('b-lock');
      const a = await appOn(redisStore({ url: servers.redis }), prefix, [Locked]);
      const b = await appOn(redisStore({ url: servers.redis }), prefix, [Locked]);
      try {
        const [la, lb] = [a.get(Locked), b.get(Locked)];
        let open!: () => void;
        lb.gate = new Promise<void>((r) => (open = r));
        const holder = lb.one(1); // B takes the lock and computes until the gate opens
        await new Promise((r) => setTimeout(r, 100));
        const waiter = la.one(1); // A's flight for id 1 waits on B's lock
        await new Promise((r) => setTimeout(r, 100));
        // The batch's lookup then reads an epoch the waiting flight did not: it checks before joining.
        if (invalidated) await a.get(InvalidationService).invalidateTags(['unrelated']);
        const batch = la.many([1, 3]);
        // Id 3 depends on nobody's lock: loaded while B still holds id 1's (the lock waits up to 10 s).
        const loadedFirst = await eventually(() => la.loads.some((l) => l.includes(3)), 3_000);
        open();
        expect(loadedFirst).toBe(true);
        expect(await batch).toEqual(['one 1', 'many 3']);
        expect(await waiter).toBe('one 1');
        expect(await holder).toBe('one 1');
        expect(la.loads).toEqual([[3]]);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});
