/*
 * timeout.hard: "Its late value is still stored, unless an invalidation, refresh or set of the key
 * came first" — across instances too. A refresh()/refreshMany()/set() on another instance after
 * the timeout must not be overwritten by the overdue computation's late (older) value, for batch
 * and single methods (found by review: every instance served the old item for its ttl).
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
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

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
  @CacheMemoizeMany({ ttl: '1m', namespace: 'U.byId', timeout: { hard: 100 } })
  async many(ids: number[]): Promise<string[]> {
    const seen = ids.map((id) => db.get(id) ?? 'v0');
    await stuck();
    return seen.map((v, i) => `${v}-${ids[i]}`);
  }
  @CacheMemoize({ ttl: '1m', namespace: 'U.byId', timeout: { hard: 100 } })
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

  it.each([
    ['batch', 'set'],
    ['batch', 'refreshMany'],
    ['single', 'set'],
    ['single', 'refresh'],
  ])("%s stuck on A, %s on B after the timeout: B's value stays", async (kind, how) => {
    const sa = a.get(Users);
    const sb = b.get(Users);
    stuckNext = true;
    const call = kind === 'batch' ? sa.many([1]) : sa.one(1);
    await expect(call).rejects.toThrow(/hard timeout/); // A read v0 and is stuck
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
  });
});
