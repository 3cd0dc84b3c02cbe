/*
 * A computation past a caller's hard timeout stops being joined, but stays where invalidations and
 * explicit replacements reach it: a key invalidation, a set() or a refresh() that resolved after
 * the timeout wins over its late value. (A first design dropped overdue computations from the
 * registry; found by review of that change, and each case failed with it.)
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, redisStore, tieredStore, cacheHandle, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
let db = 'v1';
let gate: (() => void) | undefined;
let stuckNext = true;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

@Injectable()
class Rows {
  @CacheMemoize({ ttl: '1m', timeout: { hard: 300 } })
  async row(id: number): Promise<string> {
    const seen = db;
    if (stuckNext) {
      stuckNext = false;
      await new Promise<void>((r) => (gate = r));
    }
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
] as Array<[string, () => CacheStore]>)(
  'an overdue computation vs a later invalidation, set or refresh on %s',
  (_n, make) => {
    let app: TestingModule;
    beforeEach(async () => {
      db = 'v1';
      stuckNext = true;
      gate = undefined;
      app = await appOn(make(), uniquePrefix('ovset'), [Rows]);
    });
    afterEach(async () => {
      gate?.();
      await app.close();
    });

    /** The timeout counts from the call, lookup included: the method may start after it (a slow store). */
    const readV1AndStuck = () =>
      until(() => gate !== undefined, 5_000, 'the method to start (it reads v1, then waits)');

    it('a key invalidation that resolved after the hard timeout still wins over the overdue computation', async () => {
      const svc = app.get(Rows);
      await expect(svc.row(1)).rejects.toThrow(); // hard timeout
      await readV1AndStuck();
      db = 'v2';
      await cacheHandle(svc, 'row').invalidate(1); // resolved
      gate!(); // the older computation returns v1 now
      await sleep(100);
      await settle(app);
      const v = await svc.row(1).catch((e: Error) => e.constructor.name);
      expect(v).not.toBe('v1-1');
    });

    it.each(['set', 'refresh'])(
      'handle.%s() resolved after the hard timeout is not overwritten by the older computation',
      async (how) => {
        const svc = app.get(Rows);
        await expect(svc.row(1)).rejects.toThrow(); // hard timeout
        await readV1AndStuck();
        await sleep(20);
        db = 'v2';
        if (how === 'set') await cacheHandle(svc, 'row').set('v2-1', 1);
        else expect(await cacheHandle(svc, 'row').refresh(1)).toBe('v2-1');
        gate!(); // the older computation returns v1 now
        await sleep(50);
        await settle(app);
        expect(await svc.row(1)).toBe('v2-1');
      },
    );
  },
);
