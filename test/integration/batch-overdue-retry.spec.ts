/*
 * A @CacheMemoizeMany call rejects with CacheMemoizeTimeoutError when its first item's hard timeout
 * fires; the other items' timers fire a moment later. A caller retrying on the timeout joined the
 * stuck load for those ids and failed again (found by review). Now the call's timeout makes every
 * item's computation overdue at once, and items whose lookup was still under way start
 * computations nobody joins. Also: a result: 'map' method that keys its Map by equal objects of
 * its own (not the ids passed) had every item cached as undefined.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { CacheMemoizeMany, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
/** An id carrying per-request context the `key` option leaves out (it cannot be keyed whole). */
interface Ref {
  org: number;
  id: number;
  log?: (m: string) => void;
}
let gate: (() => void) | undefined;
let stuckNext = true;

@Injectable()
class Users {
  loads = 0;
  // Above what 300 cold lookups take on a loaded CI machine (two suites at once): a lookup past it times out too (README).
  @CacheMemoizeMany({ ttl: '1m', timeout: { hard: 1_000 } })
  async many(ids: number[]): Promise<string[]> {
    this.loads++;
    if (stuckNext) {
      stuckNext = false;
      await new Promise<void>((r) => (gate = r));
    }
    return ids.map((i) => `v-${i}`);
  }

  @CacheMemoizeMany({ ttl: '1m', result: 'map', key: (r: Ref) => ({ org: r.org, id: r.id }) })
  async byKeyOption(refs: Ref[]): Promise<Map<{ org: number; id: number }, string>> {
    this.loads++;
    return new Map(refs.map((r) => [{ org: r.org, id: r.id }, `row ${r.org}/${r.id}`]));
  }

  @CacheMemoizeMany({ ttl: '1m', result: 'map' })
  async byRef(refs: Array<{ org: number; id: number }>): Promise<Map<{ org: number; id: number }, string>> {
    this.loads++;
    return new Map(refs.map((r) => [{ org: r.org, id: r.id }, `row ${r.org}/${r.id}`])); // a fresh object per row
  }
}

beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('%s: retry right after a batch hard timeout', (_n, make) => {
  it.each([2, 300])('with %i ids, the retry does not join the load the first call timed out on', async (n) => {
    stuckNext = true;
    const app = await appOn(make(), uniquePrefix('ovr'), [Users]);
    try {
      const svc = app.get(Users);
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      const retry = svc.many(ids).catch(() => svc.many(ids)); // retry on the timeout
      const got = await retry.then(
        (v) => `ok ${v.length}`,
        (e: Error) => e.constructor.name,
      );
      expect({ got, loads: svc.loads }).toEqual({ got: `ok ${n}`, loads: 2 });
    } finally {
      gate?.();
      await app.close();
    }
  });

  it("result: 'map' keyed by equal (not identical) objects: each id gets its row, and it is cached", async () => {
    const app = await appOn(make(), uniquePrefix('bmap'), [Users]);
    try {
      const svc = app.get(Users);
      const got = await svc.byRef([
        { org: 1, id: 2 },
        { id: 3, org: 1 },
      ]);
      const again = await svc.byRef([{ id: 2, org: 1 }]);
      expect({ got: [...got.values()], again: [...again.values()], loads: svc.loads }).toEqual({
        got: ['row 1/2', 'row 1/3'],
        again: ['row 1/2'],
        loads: 1,
      });
    } finally {
      await app.close();
    }
  });

  it("result: 'map' with a key option: each id gets the row the method keyed by an equal object", async () => {
    const app = await appOn(make(), uniquePrefix('bmk'), [Users]);
    try {
      const svc = app.get(Users);
      const log = () => undefined;
      const got = await svc.byKeyOption([{ org: 1, id: 2, log }]);
      expect([...got.values()]).toEqual(['row 1/2']);
    } finally {
      await app.close();
    }
  });
});
