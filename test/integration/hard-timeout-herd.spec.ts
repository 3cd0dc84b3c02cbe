/*
 * timeout.hard on a shared store whose lookups answer after the timeout (Redis behind a stalling
 * proxy: slow, within the store's budgets). The computation a late lookup starts is not joined by
 * calls still waiting (hard-timeout-stuck.spec), but calls that all gave up share one computation,
 * as they would have in time: single flight holds on every path. A first fix of the stuck key
 * (8ce1a46) started one computation per call that gave up (N of N here; batches did so before it),
 * found by review.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeTimeoutError,
  memoryStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { outcome } from '../support/outcome';
import { SLOW_NOT_DOWN_MS, StallingProxy } from '../support/failures-proxy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
const N = 6;
let runs = 0;
let lookedUp = 0; // lookups answered (onMiss, onStale)
let gate: Promise<void> | undefined;
let open: () => void = () => undefined;
const counted = { onMiss: () => void lookedUp++, onStale: () => void lookedUp++ };

async function held<T>(value: T): Promise<T> {
  runs++;
  if (gate !== undefined) await gate;
  return value;
}

@Injectable()
class Reports {
  @CacheMemoize({ ttl: '1m', timeout: { hard: 300 }, hooks: counted })
  build(id: number): Promise<string> {
    return held(`report-${id}#${runs + 1}`);
  }

  @CacheMemoize({ ttl: '1m', staleIfError: '1m', timeout: { hard: 300 }, hooks: counted })
  guarded(id: number): Promise<string> {
    return held(`report-${id}`);
  }

  @CacheMemoize({ ttl: 200, grace: '1m', timeout: { hard: 300 }, hooks: counted })
  graced(id: number): Promise<string> {
    return held(`report-${id}`);
  }

  @CacheMemoize({ ttl: '1m', timeout: { hard: 300 }, lock: { timeout: '200ms', ttl: '10s' }, hooks: counted })
  locked(id: number): Promise<string> {
    return held(`report-${id}`);
  }

  @CacheMemoizeMany({ ttl: '1m', namespace: 'R.many', timeout: { hard: 300 } })
  many(ids: number[]): Promise<string[]> {
    return held(ids.map((id) => `report-${id}`));
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

let proxy: StallingProxy | undefined;
let app: TestingModule | undefined;
async function boot(make: (proxy: StallingProxy) => CacheStore): Promise<Reports> {
  proxy = await StallingProxy.before(servers.redis);
  app = await appOn(make(proxy), uniquePrefix('herd'), [Reports], { operationTimeout: SLOW_NOT_DOWN_MS });
  return app.get(Reports);
}
const redis = (p: StallingProxy) => p.slowRedisStore();
const tiered = (p: StallingProxy) => tieredStore(memoryStore(), p.slowRedisStore(), { bus: false });

beforeEach(() => {
  runs = lookedUp = 0;
  gate = undefined;
});
afterEach(async () => {
  open();
  proxy?.release();
  await app?.close();
  await proxy?.close();
});

/** N concurrent calls, all past their timeout before their lookups answer: how many runs start. */
async function herd<T>(call: () => Promise<T>, lookups: number | undefined): Promise<number> {
  gate = new Promise<void>((r) => (open = r));
  runs = lookedUp = 0;
  proxy!.stall(500, 500); // replies 500 ms late: past the 300 ms timeout, within the budgets
  const outs = await Promise.all(Array.from({ length: N }, () => outcome(call())));
  expect(outs).toEqual(Array(N).fill(CacheMemoizeTimeoutError.name));
  if (lookups !== undefined) await until(() => lookedUp >= lookups, 5_000, 'every late lookup to answer');
  await until(() => runs >= 1, 5_000, 'the late run to start');
  // A bound, not a wait for success: extra runs would start within it (a lock waiter after 200 ms).
  await until(() => runs >= 2, 1_000).catch(() => undefined);
  return runs;
}

describe.each([
  ['redis', redis],
  ['tiered (no bus)', tiered],
] as Array<[string, (proxy: StallingProxy) => CacheStore]>)(
  'calls that all gave up share one run, on %s',
  (_n, make) => {
    it('misses', async () => {
      const svc = await boot(make);
      await svc.build(0); // warm: connection, epoch
      expect(await herd(() => svc.build(1), N)).toBe(1);
    });

    it('stale hits within grace: one background refresh', async () => {
      const svc = await boot(make);
      await svc.graced(1);
      await new Promise((r) => setTimeout(r, 300)); // past ttl, within grace
      expect(await herd(() => svc.graced(1), N)).toBe(1);
    });

    it('staleIfError', async () => {
      const svc = await boot(make);
      await svc.guarded(0);
      expect(await herd(() => svc.guarded(1), N)).toBe(1);
    });

    it('lock', async () => {
      const svc = await boot(make);
      await svc.locked(0);
      expect(await herd(() => svc.locked(1), N)).toBe(1);
    });

    it('@CacheMemoizeMany', async () => {
      const svc = await boot(make);
      await svc.many([0]);
      expect(await herd(() => svc.many([1, 2]), undefined)).toBe(1);
    });
  },
);

describe('calls that did not give up (redis)', () => {
  it('with a slow lookup within the timeout, concurrent calls share one run', async () => {
    const svc = await boot(redis);
    await svc.build(0);
    runs = 0;
    gate = new Promise<void>((r) => (open = r));
    proxy!.stall(100, 100);
    const calls = Array.from({ length: N }, () => outcome(svc.build(1)));
    await until(() => runs >= 1, 5_000, 'the run to start');
    open();
    expect({ outs: await Promise.all(calls), runs }).toEqual({ outs: Array(N).fill('report-1#1'), runs: 1 });
  });

  it('after one gave up before its lookup answered, later concurrent calls share one new run, not the late one', async () => {
    const svc = await boot(redis);
    await svc.build(0);
    runs = 0;
    gate = new Promise<void>((r) => (open = r));
    proxy!.stall(500, 500);
    expect(await outcome(svc.build(1))).toBe(CacheMemoizeTimeoutError.name);
    await until(() => runs === 1, 5_000, 'the late run');
    const later = Array.from({ length: 4 }, () => outcome(svc.build(1)));
    await until(() => runs === 2, 5_000, 'the later calls’ run');
    open();
    expect({ outs: await Promise.all(later), runs }).toEqual({ outs: Array(4).fill('report-1#2'), runs: 2 });
  });
});
