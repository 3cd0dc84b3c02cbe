/*
 * timeout.hard: "Its late value is still stored, unless an invalidation, refresh or set of the key
 * came first" — across instances too. A refresh()/refreshMany()/set() on another instance after
 * the timeout must not be overwritten by the overdue computation's late (older) value, for batch
 * and single methods (found by review: every instance served the old item for its ttl). The timeout
 * counts from the call, store lookup included, so A's method may start after it: the last block
 * makes A's lookup slower than the timeout on purpose (a CI run met that by chance).
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeMany,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { SLOW_NOT_DOWN_MS, StallingProxy } from '../support/failures-proxy';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const db = new Map<number, string>();
let gate: (() => void) | undefined;
let stuckNext = false;
const stuck = async () => {
  if (stuckNext) {
    stuckNext = false;
    await new Promise<void>((r) => (gate = r));
  }
};

@Injectable()
class Users {
  @CacheMemoizeMany({ ttl: '1m', namespace: 'U.byId', timeout: { hard: 300 } })
  async many(ids: number[]): Promise<string[]> {
    const seen = ids.map((id) => db.get(id) ?? 'v0');
    await stuck();
    return seen.map((v, i) => `${v}-${ids[i]}`);
  }
  @CacheMemoize({ ttl: '1m', namespace: 'U.byId', timeout: { hard: 300 } })
  async one(id: number): Promise<string> {
    const seen = db.get(id) ?? 'v0';
    await stuck();
    return `${seen}-${id}`;
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

const cases = [
  ['batch', 'set'],
  ['batch', 'refreshMany'],
  ['single', 'set'],
  ['single', 'refresh'],
];

/** A's call times out with its computation stuck after reading v0; B then replaces the entry. */
async function replacedWhileOverdue(
  a: TestingModule,
  b: TestingModule,
  kind: string,
  how: string,
  before?: () => void,
) {
  const sa = a.get(Users);
  const sb = b.get(Users);
  stuckNext = true;
  before?.();
  const call = kind === 'batch' ? sa.many([1]) : sa.one(1);
  await expect(call).rejects.toThrow(/hard timeout/);
  // The scenario needs A to have read v0 before the write below, however late its method started.
  await until(() => gate !== undefined, 5_000, "A's method to start (it reads v0, then waits)");
  db.set(1, 'v2');
  if (how === 'set') await cacheHandle(sb, 'one').set('v2-1', 1);
  else if (how === 'refresh') expect(await cacheHandle(sb, 'one').refresh(1)).toBe('v2-1');
  else expect(await cacheHandle(sb, 'many').refreshMany([1])).toEqual(['v2-1']);
  await sleep(30);
  expect(await sb.one(1)).toBe('v2-1'); // B's replacement is in place
  gate!(); // A's overdue computation returns v0 now
  await sleep(50);
  await settle(a, b);
  expect([await sa.one(1), await sb.one(1), (await sb.many([1]))[0]]).toEqual(['v2-1', 'v2-1', 'v2-1']);
}

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
] as Array<[string, () => CacheStore]>)('overdue on instance A vs a replacement on instance B (%s)', (_n, make) => {
  let a: TestingModule;
  let b: TestingModule;
  beforeEach(async () => {
    db.clear();
    gate = undefined;
    const p = uniquePrefix('ovx');
    a = await appOn(make(), p, [Users]);
    b = await appOn(make(), p, [Users]);
  });
  afterEach(async () => {
    gate?.();
    await a.close();
    await b.close();
  });

  it.each(cases)("%s stuck on A, %s on B after the timeout: B's value stays", (kind, how) =>
    replacedWhileOverdue(a, b, kind, how),
  );
});

describe("A's lookup slower than its hard timeout: its method starts late, and B's value still stays (redis)", () => {
  let proxy: StallingProxy;
  let a: TestingModule;
  let b: TestingModule;
  beforeEach(async () => {
    db.clear();
    gate = undefined;
    proxy = await StallingProxy.before(servers.redis);
    const p = uniquePrefix('ovs');
    a = await appOn(proxy.slowRedisStore(), p, [Users], { operationTimeout: SLOW_NOT_DOWN_MS });
    b = await appOn(redisStore({ url: servers.redis }), p, [Users]);
  });
  afterEach(async () => {
    gate?.();
    proxy.release();
    await a.close();
    await b.close();
    await proxy.close();
  });

  // A's replies come 500 ms late, past the 300 ms timeout, within A's commandTimeout.
  it.each(cases)("%s stuck on A, %s on B after the timeout: B's value stays", (kind, how) =>
    replacedWhileOverdue(a, b, kind, how, () => proxy.stall(500, 500)),
  );
});
