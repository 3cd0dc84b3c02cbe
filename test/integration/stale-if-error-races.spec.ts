/*
 * staleIfError serves a kept entry when the call fails — never one invalidated before the call or
 * while it was failing (README, Result-driven caching). On the memory store a key invalidation
 * removes the row and moves no version, so the kept entry is checked to still be the one the
 * store holds, as well as by versions.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, cacheHandle, InvalidationService, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

@Injectable()
class Rates {
  failing = false;
  started: (() => void) | undefined;
  gate: Promise<void> | undefined;
  version = 0;

  @CacheMemoize({ ttl: 100, staleIfError: '1m', tags: (c: string) => [`rates:${c}`] })
  async rates(currency: string): Promise<{ currency: string; version: number }> {
    const version = this.version;
    this.started?.();
    if (this.gate !== undefined) await this.gate;
    if (this.failing) throw new Error('feed down');
    return { currency, version };
  }
}

type How = 'invalidateMethod' | 'invalidateKeys' | 'cacheHandle.invalidate' | 'invalidateTags';

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('staleIfError on %s', (_kind, makeStore) => {
  let app: TestingModule;
  afterEach(async () => {
    await app?.close();
  });

  it.each(['invalidateMethod', 'invalidateKeys', 'cacheHandle.invalidate', 'invalidateTags'] as How[])(
    'an entry invalidated (%s) while the call is failing is not served as stale-if-error',
    async (how) => {
      app = await appOn(makeStore(), uniquePrefix('sie'), [Rates]);
      const svc = app.get(Rates);
      const inv = app.get(InvalidationService);
      expect(await svc.rates('EUR')).toEqual({ currency: 'EUR', version: 0 });
      await settle(app);
      await sleep(150); // expired (no grace), within staleIfError

      const started = deferred();
      const gate = deferred();
      svc.started = started.resolve;
      svc.gate = gate.promise;
      svc.failing = true;
      svc.version = 1;
      const call = svc.rates('EUR').then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      );
      await started.promise;

      // The rates changed; the cache is invalidated while the call is still running (and about to fail).
      if (how === 'invalidateMethod') await inv.invalidateMethod(Rates, 'rates', ['EUR']);
      else if (how === 'invalidateKeys') await inv.invalidateKeys([inv.keyOf(Rates, 'rates', ['EUR'])]);
      else if (how === 'cacheHandle.invalidate') await cacheHandle(svc, 'rates').invalidate('EUR');
      else await inv.invalidateTags(['rates:EUR']);
      gate.resolve();

      expect(await call).toEqual({ error: 'feed down' });
      svc.started = undefined;
      svc.gate = undefined;
    },
  );
});
