/*
 * `timeout.hard`: the call rejects, the method goes on and its result is cached for the next
 * caller — also when the method is slower than its ttl. Shared stores counted the ttl from when
 * the computation started, so such a result was stored already expired and every caller timed
 * out again; lifetimes now count from the write on every store, as in memory.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memcachedStore, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Reports {
  runs = 0;

  @CacheMemoize({ ttl: 1000, timeout: { hard: 100 } })
  async build(id: number): Promise<string> {
    this.runs++;
    await sleep(1500); // slower than the ttl
    return `report-${id}`;
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
] as Array<[string, () => CacheStore]>)('timeout.hard on %s, method slower than its ttl', (_kind, makeStore) => {
  let app: TestingModule;
  afterEach(async () => {
    await app?.close();
  });

  it('the call past its hard timeout rejects, and its result is cached for the next caller', async () => {
    app = await appOn(makeStore(), uniquePrefix('hardttl'), [Reports]);
    const svc = app.get(Reports);
    await expect(svc.build(1)).rejects.toMatchObject({ code: 'CACHE_MEMOIZE_TIMEOUT' });
    await sleep(1550); // the method finished and its result was written
    await settle(app);
    const next = await svc.build(1).then(
      (v) => v,
      (e: { code?: string }) => e.code,
    );
    expect({ next, runs: svc.runs }).toEqual({ next: 'report-1', runs: 1 });
  });
});
