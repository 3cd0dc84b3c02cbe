/*
 * staleIfError: a row replaced meanwhile by a newer value (set, refresh) is served when the call
 * fails — the store is read again when the fallback is used (on a shared store, a set moves the
 * key's version: the old fallback is invalid, and the value set is what the store now holds).
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { CacheMemoize, cacheHandle, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let failing = false;

@Injectable()
class Rates {
  @CacheMemoize({ ttl: 100, staleIfError: '1m' })
  async rate(c: string): Promise<string> {
    await sleep(30);
    if (failing) throw new Error('upstream down');
    return `${c}:v1`;
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('staleIfError, row replaced during the failing call (%s)', (_n, make) => {
  it('the failing call is answered (kept or newer value), not failed', async () => {
    const app = await appOn(make(), uniquePrefix('rvsie'), [Rates]);
    const rates = app.get(Rates);
    expect(await rates.rate('EUR')).toBe('EUR:v1');
    await settle(app);
    await sleep(150); // expired, within staleIfError
    failing = true;
    const call = rates.rate('EUR').then(
      (v) => ({ ok: v }),
      (e: Error) => ({ error: e.message }),
    );
    await sleep(5);
    await cacheHandle(rates, 'rate').set('EUR:v2', 'EUR'); // a newer value, no invalidation
    const outcome = await call;
    failing = false;
    await app.close();
    expect(outcome).toEqual({ ok: 'EUR:v2' });
  });
});
