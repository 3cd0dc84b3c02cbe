/*
 * Tiered (redis, bus lease held), refreshAhead, L2 silent: each near-expiry L1 hit is served at
 * once, and its refresh waits for an epoch read. Review of 5d1c977: 200 hits queued 200 reads on
 * the stalled store; one per key is now pending at a time. Fourth review of 12e0844: a read that
 * never settled (a store past its own timeouts) held the key, and it was never refreshed again; the
 * read is now bounded by the operation timeout.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, cacheHandle, memoryStore, redisStore, tieredStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Svc {
  runs = 0;
  @CacheMemoize({ ttl: '1h', refreshAhead: 3_599_990, timeout: { hard: '100ms' } })
  async hard(id: number): Promise<string> {
    return `${id}#${++this.runs}`;
  }
  @CacheMemoize({ ttl: '1h', refreshAhead: 3_599_990 })
  async plain(id: number): Promise<string> {
    return `${id}#${++this.runs}`;
  }
}

/** The bus lease is held: the L1 copy is served without reading L2 (the cases below hold L2's reads). */
const leased = (svc: Svc, id: number) =>
  until(async () => (await cacheHandle(svc, 'plain').explain(id)).source === 'l1', 5_000, 'the bus lease');

const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

async function setup(bus: boolean) {
  const l2 = redisStore({ url: servers.redis });
  const app = await appOn(tieredStore(memoryStore(), l2, { bus }), uniquePrefix('nx-pile'), [Svc]);
  opened.push(app);
  let gate: Promise<void> | undefined;
  let held = 0;
  const orig = l2.getMany.bind(l2);
  (l2 as { getMany: typeof l2.getMany }).getMany = async (keys) => {
    if (gate !== undefined) {
      held++;
      await gate;
    }
    return orig(keys);
  };
  const hold = () => {
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    return () => {
      gate = undefined;
      open();
    };
  };
  return { app, svc: app.get(Svc), hold, held: () => held };
}

it('lease held, L2 silent: N sequential near-expiry hits -> epoch reads sent, computations after release', async () => {
  const { app, svc, hold, held } = await setup(true);
  const first = await svc.plain(9);
  await settle(app);
  await leased(svc, 9);
  await sleep(15);
  const runsBefore = svc.runs;
  const release = hold();
  const N = 200;
  let copies = 0;
  for (let i = 0; i < N; i++) {
    if ((await svc.plain(9)) === first) copies++;
    if (i % 20 === 0) await sleep(1); // spread over ticks/timers, as traffic is
  }
  const sent = held();
  release();
  await settle(app);
  const computed = svc.runs - runsBefore;
  expect(copies).toBe(N);
  expect(computed).toBe(1);
  expect(sent).toBeLessThan(20);
});

it('an epoch read that never settles does not stop the key’s later refreshes', async () => {
  const l2 = redisStore({ url: servers.redis });
  const app = await appOn(tieredStore(memoryStore(), l2, { bus: true }), uniquePrefix('revd-soon'), [Svc]);
  opened.push(app);
  const svc = app.get(Svc);
  let hang = false;
  const orig = l2.getMany.bind(l2);
  (l2 as { getMany: typeof l2.getMany }).getMany = (keys) => (hang ? new Promise(() => undefined) : orig(keys));
  await svc.plain(1);
  await svc.plain(2);
  await settle(app);
  await leased(svc, 1);
  await sleep(15);
  hang = true;
  await svc.plain(1); // its epoch read is lost
  await sleep(5);
  hang = false; // store healthy again
  for (let i = 0; i < 20; i++) {
    await svc.plain(1);
    await svc.plain(2);
    await sleep(20);
    await settle(app);
  }
  expect(await svc.plain(1)).not.toBe('1#1'); // refreshed once its read was given up
});
