/*
 * A computation a caller timed out on, and that never settles (a query on a dead connection), is
 * not kept alive by the cache, nor what the callers that joined it passed: the late set holds it
 * weakly. A first version held it strongly for the life of the app (found by review). The proxied
 * case makes the lookup slower than the timeout: the computation then starts after its caller
 * gave up, and was joined and held until a later review.
 */
import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { StallingProxy } from '../support/failures-proxy';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

@Injectable()
class Dead {
  @CacheMemoize({ ttl: '1m', key: (q: { id: number; payload: unknown }) => q.id, timeout: { hard: 40 } })
  async query(_q: { id: number; payload: unknown }): Promise<string> {
    return new Promise<string>(() => undefined); // a dead connection: never settles
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await sleep(10);
    gc();
  }
  return ref.deref() === undefined;
}

let proxy: StallingProxy | undefined;
afterAll(() => proxy?.close());

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  // Replies 150 ms late: past the 40 ms timeout, within the store's budgets (slow, not unreachable).
  ['redis, lookup slower than the timeout', () => redisStore({ url: proxy!.url })],
] as Array<[string, () => CacheStore]>)('a computation that never settles, on %s', (name, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    if (name.includes('slower')) proxy ??= await StallingProxy.before(servers.redis);
    app = await appOn(make(), uniquePrefix('dead'), [Dead]);
    if (name.includes('slower')) proxy!.stall(150, 150);
  });
  afterEach(async () => {
    proxy?.release();
    await app.close();
  });

  it('is not kept alive by the cache (nor what callers that joined it passed) once every caller timed out', async () => {
    const svc = app.get(Dead);
    const refs: Array<WeakRef<object>> = [];
    const calls: Array<Promise<unknown>> = [];
    const call = (id: number) => {
      const q = { id, payload: new Array(1000).fill(id) };
      refs.push(new WeakRef(q));
      calls.push(svc.query(q).catch(() => 'timed out'));
    };
    call(1);
    await sleep(5);
    call(1); // joins
    expect(await Promise.all(calls.splice(0))).toEqual(['timed out', 'timed out']);
    await sleep(20);
    expect(await collected(refs[1])).toBe(true);
  });
});
