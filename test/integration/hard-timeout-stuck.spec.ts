/*
 * timeout.hard and a computation that never settles (a query stuck on a dead connection): the
 * first call rejects with CacheMemoizeTimeoutError, as documented, and the key is not held by the
 * stuck computation: later calls run the method again. Refreshes (withCacheMode('refresh'),
 * handle.refresh()) get the hard timeout too. Before, every later call of the key joined the stuck
 * computation and timed out for the life of the process, and refreshes never timed out. Found by
 * review; the cases failed before on memory, Redis and tiered. The last block makes the lookup
 * slower than the timeout: the run starts after its caller gave up, and was joined until a review
 * found it (the batch path already marked such runs).
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeTimeoutError,
  memoryStore,
  redisStore,
  tieredStore,
  withCacheMode,
  cacheHandle,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { outcome } from '../support/outcome';
import { SLOW_NOT_DOWN_MS, StallingProxy } from '../support/failures-proxy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
let stuck = true;
let runs = 0;

@Injectable()
class Reports {
  @CacheMemoize({ ttl: '1m', timeout: { hard: 300 } })
  async build(id: number): Promise<string> {
    runs++;
    if (stuck) await new Promise<never>(() => undefined); // the first call's connection is dead
    return `report-${id}`;
  }

  @CacheMemoize({ ttl: '1m', staleIfError: '1m', timeout: { hard: 300 } })
  async guarded(id: number): Promise<string> {
    runs++;
    if (stuck) await new Promise<never>(() => undefined);
    return `report-${id}`;
  }
}

/**
 * The first call times out with its run stuck; then the method answers again, and 3 later calls
 * each get its value from one new run (none joins the stuck one).
 */
async function laterCallsRunAgain(first: () => Promise<string>, later: () => Promise<string>): Promise<void> {
  await expect(first()).rejects.toBeInstanceOf(CacheMemoizeTimeoutError);
  // The timeout counts from the call, lookup included: on a slow store the method starts after it.
  await until(() => runs >= 1, 5_000, 'the first run to start (and stick)');
  stuck = false; // the method answers again
  const outcomes: string[] = [];
  for (let i = 0; i < 3; i++) outcomes.push(await outcome(later()));
  expect({ outcomes, runs }).toEqual({ outcomes: ['report-1', 'report-1', 'report-1'], runs: 2 });
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('a computation that never settles, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    stuck = true;
    runs = 0;
    app = await appOn(make(), uniquePrefix('poison'), [Reports]);
  });
  afterEach(async () => {
    await app.close();
  });

  it('after the first call timed out, later calls run the (now healthy) method instead of joining the stuck one', () => {
    const svc = app.get(Reports);
    return laterCallsRunAgain(
      () => svc.build(1),
      () => svc.build(1),
    );
  });

  it("withCacheMode('refresh') and handle.refresh() on a method with timeout.hard: the hard timeout applies", async () => {
    const svc = app.get(Reports);
    const bounded = (p: Promise<string>) =>
      Promise.race([
        outcome(p),
        new Promise<string>((r) => setTimeout(() => r('still pending after 3 s'), 3_000).unref()),
      ]);
    const viaMode = await bounded(withCacheMode('refresh', () => svc.build(2)));
    const viaHandle = await bounded(cacheHandle(svc, 'build').refresh(3));
    expect({ viaMode, viaHandle }).toEqual({
      viaMode: 'CacheMemoizeTimeoutError',
      viaHandle: 'CacheMemoizeTimeoutError',
    });
  });
});

describe('a lookup slower than the hard timeout (redis behind a stalling proxy): the run it starts late is not joined', () => {
  let proxy: StallingProxy;
  let app: TestingModule;
  beforeEach(async () => {
    stuck = true;
    runs = 0;
    proxy = await StallingProxy.before(servers.redis);
    app = await appOn(proxy.slowRedisStore(), uniquePrefix('poisonslow'), [Reports], {
      operationTimeout: SLOW_NOT_DOWN_MS,
    });
  });
  afterEach(async () => {
    proxy.release();
    await app.close();
    await proxy.close();
  });

  it.each([
    ['a call', (svc: Reports) => svc.build(1), (svc: Reports) => svc.build(1)],
    ['handle.refresh()', (svc: Reports) => cacheHandle(svc, 'build').refresh(1), (svc: Reports) => svc.build(1)],
    ['a call with staleIfError', (svc: Reports) => svc.guarded(1), (svc: Reports) => svc.guarded(1)],
  ])('%s: later calls run the method again', (_n, first, later) => {
    const svc = app.get(Reports);
    proxy.stall(500, 500); // replies 500 ms late: past the 300 ms timeout, within commandTimeout
    return laterCallsRunAgain(
      () => first(svc),
      () => later(svc),
    );
  });
});
