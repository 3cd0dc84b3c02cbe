/*
 * Randomized races of grace, refreshAhead, timeout.soft and lock against invalidateTags, two app
 * instances on one store. Invariant (README, Invalidation): a call that starts after an
 * invalidation resolved never returns a value computed before it. The "database" version moves
 * before each invalidation; a call started after version V's invalidation resolved must return
 * a version >= V. Each case runs for a bounded time (a few hundred calls).
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { seeded } from '../support/seeded';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const rnd = seeded(42);
let dbVersion = 0;

@Injectable()
class Soft {
  @CacheMemoize({ ttl: 20, grace: '1m', timeout: { soft: '40ms' }, tags: () => ['race'] })
  async get(id: number): Promise<{ id: number; version: number }> {
    const version = dbVersion;
    await sleep(rnd() * 30);
    return { id, version };
  }
}

/** Refreshes slower than the ttl: the window of the cross-instance soft-timeout gap. */
@Injectable()
class SlowSoft {
  @CacheMemoize({ ttl: 10, grace: '1m', timeout: { soft: '150ms' }, tags: () => ['race'] })
  async get(id: number): Promise<{ id: number; version: number }> {
    const version = dbVersion;
    await sleep(rnd() * 100);
    return { id, version };
  }
}

@Injectable()
class Plain {
  @CacheMemoize({ ttl: 20, grace: '1m', refreshAhead: 15, tags: () => ['race'] })
  async get(id: number): Promise<{ id: number; version: number }> {
    const version = dbVersion;
    await sleep(rnd() * 30);
    return { id, version };
  }
}

@Injectable()
class Locked {
  @CacheMemoize({ ttl: 20, grace: '1m', lock: { timeout: '2s', ttl: '2s' }, tags: () => ['race'] })
  async get(id: number): Promise<{ id: number; version: number }> {
    const version = dbVersion;
    await sleep(rnd() * 30);
    return { id, version };
  }
}

type Svc = { get(id: number): Promise<{ id: number; version: number }> };

async function race(apps: TestingModule[], cls: new () => Svc, budgetMs: number): Promise<string[]> {
  const bad: string[] = [];
  let resolvedVersion = 0; // the highest version whose invalidation has resolved
  const svcs = apps.map((a) => a.get(cls));
  const invs = apps.map((a) => a.get(InvalidationService));
  const deadline = Date.now() + budgetMs;
  let round = 0;
  for (; Date.now() < deadline; round++) {
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      calls.push(
        (async () => {
          await sleep(rnd() * 60);
          const at = resolvedVersion;
          const which = Math.floor(rnd() * svcs.length);
          try {
            const v = await svcs[which].get(1);
            if (v.version < at)
              bad.push(`round ${round}: app ${which} got v${v.version}, started after v${at} resolved`);
          } catch (error) {
            bad.push(`round ${round}: ${(error as Error).message}`);
          }
        })(),
      );
    }
    calls.push(
      (async () => {
        await sleep(rnd() * 40);
        const v = ++dbVersion;
        await invs[Math.floor(rnd() * invs.length)].invalidateTags(['race']);
        if (v > resolvedVersion) resolvedVersion = v;
      })(),
    );
    await Promise.all(calls);
  }
  if (bad.length > 0) bad.push(`(${round} rounds of 6 calls + 1 invalidation)`);
  return bad;
}

const kinds: Array<[string, () => CacheStore, number]> = [
  ['redis', () => redisStore({ url: servers.redis }), 2],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] }), 2],
  ['tiered redis', () => tieredStore(memoryStore(), redisStore({ url: servers.redis })), 2],
];

describe.each(kinds)('randomized grace races on %s', (_kind, makeStore, n) => {
  let apps: TestingModule[] = [];
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
  });

  it.each([
    ['grace + refreshAhead', Plain, 2_500],
    ['grace + lock', Locked, 2_500],
    ['grace + timeout.soft', Soft, 2_500],
    // Refreshes slower than the ttl: a refresh from before an invalidation is under way when the
    // other instance's newer entry goes stale (the gap `refreshed` closes).
    ['grace + timeout.soft, refresh slower than ttl', SlowSoft, 8_000],
  ] as Array<[string, new () => Svc, number]>)(
    '%s: no call started after an invalidation resolved gets an older version',
    async (_n, cls, budgetMs) => {
      const prefix = uniquePrefix('rr');
      for (let i = 0; i < n; i++) apps.push(await appOn(makeStore(), prefix, [Plain, Locked, Soft, SlowSoft]));
      const bad = await race(apps, cls, budgetMs);
      if (bad.length > 0) console.log(`${_n}: ${bad.length - 1} bad calls ${bad[bad.length - 1]}; first: ${bad[0]}`);
      expect(bad.slice(0, 5)).toEqual([]);
    },
    30_000,
  );
});
