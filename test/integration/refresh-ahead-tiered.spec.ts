/*
 * A tiered store's L1 copy within `refreshAhead` of its expiry. A first version of 217db0a sent
 * every such hit to L2, so that the refresh would start before the caller resumed; review found
 * that when L2 had lost the entry (evicted) or could not answer, the hit became a miss: the caller
 * waited for the method, got its error or a hard timeout, or ran it uncached on every call. Under a
 * lease the copy is now served without reading L2; without one (memcached), the L2 lookup that
 * confirms it serves it when L2 lost the entry and its epoch is unchanged.
 */
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
import { until } from '../support/until';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Svc {
  runs = 0;
  /** While set, a computation waits for it. */
  gate: Promise<void> | undefined;
  failing = false;

  @CacheMemoize({
    ttl: '1h',
    refreshAhead: 3_599_990, // ms: every hit from 10 ms after it is stored is near expiry
    timeout: { hard: '400ms' }, // from the call, lookup included: room for a loaded machine's round trips
  })
  async ahead(id: number): Promise<string> {
    const run = ++this.runs;
    await this.gate;
    if (this.failing) throw new Error('db down');
    return `${id}#${run}`;
  }
}

const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

describe.each<[string, () => CacheStore]>([
  ['redis (bus lease)', () => redisStore({ url: servers.redis })],
  ['memcached (no bus: L1 copies confirmed by the epoch)', () => memcachedStore({ servers: servers.memcached[0] })],
])('a tiered L1 copy near expiry whose L2 entry was evicted, over %s', (_name, l2Store) => {
  async function evicted() {
    const l2 = l2Store();
    const prefix = uniquePrefix('ahead-l2');
    const app = await appOn(tieredStore(memoryStore(), l2), prefix, [Svc]);
    opened.push(app);
    const svc = app.get(Svc);
    const evict = async (id: number) => {
      const { key } = await cacheHandle(svc, 'ahead').explain(id);
      expect(await l2.delete(key)).toBe(true);
    };
    return { app, svc, evict, prefix };
  }

  it('is served at once, not after the method (slow, failing or past its hard timeout)', async () => {
    const { app, svc, evict } = await evicted();
    for (let round = 0; round < 10; round++) {
      const first = await svc.ahead(round);
      await settle(app);
      await sleep(20); // within refreshAhead: every hit wants a refresh
      await evict(round);
      let open!: () => void;
      svc.gate = new Promise<void>((r) => (open = r));
      svc.failing = round % 2 === 1;
      const timer = setTimeout(open, 1_000); // past the hard timeout
      expect(await svc.ahead(round)).toBe(first); // the method had not returned
      clearTimeout(timer);
      svc.gate = undefined;
      open();
      await settle(app);
      svc.failing = false;
    }
  });

  it('its refresh stores the new value in L2', async () => {
    const { app, svc, evict, prefix } = await evicted();
    const first = await svc.ahead(1);
    await settle(app);
    await sleep(20);
    await evict(1);
    const runs = svc.runs;
    expect(await svc.ahead(1)).toBe(first);
    await settle(app);
    expect(svc.runs).toBe(runs + 1);
    // Another instance, with nothing in its L1, reads what the refresh stored.
    const other = await appOn(tieredStore(memoryStore(), l2Store()), prefix, [Svc]);
    opened.push(other);
    expect(await other.get(Svc).ahead(1)).toBe(`1#${runs + 1}`);
  });
});

it('a tiered L1 copy near expiry is served while the lease holds and L2 reads fail, without running the method', async () => {
  const l2 = redisStore({ url: servers.redis });
  const app = await appOn(tieredStore(memoryStore(), l2), uniquePrefix('ahead-l2-down'), [Svc]);
  opened.push(app);
  const svc = app.get(Svc);
  const first = await svc.ahead(1);
  await settle(app);
  // The lease is held (served from L1 without an L2 read) before L2 fails.
  await until(async () => (await cacheHandle(svc, 'ahead').explain(1)).source === 'l1', 5_000, 'the bus lease');
  await sleep(20);
  const reads = jest.spyOn(l2, 'getMany').mockRejectedValue(new Error('L2 down'));
  const runs = svc.runs;
  const got: string[] = [];
  for (let i = 0; i < 5; i++) got.push(await svc.ahead(1));
  expect(reads).toHaveBeenCalled(); // the hits did ask L2
  reads.mockRestore();
  expect(got).toEqual(Array(5).fill(first));
  expect(svc.runs).toBe(runs);
});
