/*
 * A computation runs in its own caller's async context. Shared stores answer concurrent lookups
 * in one batch (one MGET), and each caller's continuation used to run in the context of the
 * caller that sent the batch: with two requests in one tick (a job fanning out per tenant, a
 * consumer handling a batch of messages), bob's computation ran under alice's AsyncLocalStorage
 * (nestjs-cls, a tenant's connection, a trace) and was stored as bob's entry; the library's own
 * withCacheMode leaked the same way. Found by review; every shared-store case failed before.
 */
import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  cacheHandle,
  currentCacheMode,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  withCacheMode,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

/** The app's own request context (nestjs-cls, OpenTelemetry, a tenant's DB connection). */
const requestContext = new AsyncLocalStorage<string>();

@Injectable()
class Contextual {
  innerRuns = 0;
  modeSeen: Array<string | undefined> = [];

  /** The tenant is an argument (so it is in the key); the connection comes from the context. */
  @CacheMemoize({ ttl: '1m' })
  async report(tenant: string): Promise<{ tenant: string; ranAs: string | undefined }> {
    return { tenant, ranAs: requestContext.getStore() };
  }

  @CacheMemoize({ ttl: '1m' })
  async outer(id: number): Promise<number> {
    this.modeSeen.push(currentCacheMode());
    return this.inner(id);
  }

  @CacheMemoize({ ttl: '1m' })
  async inner(id: number): Promise<number> {
    this.innerRuns++;
    return id;
  }

  @CacheMemoize({ ttl: '1m' })
  async probe(id: number): Promise<number> {
    return id;
  }
}

describe.each<[string, () => CacheStore]>([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
  ['memory (control)', () => memoryStore()],
])('a computation runs in its own caller’s async context, on %s', (_name, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('als'), [Contextual]);
  });
  afterEach(() => app.close());

  it('two callers in one tick: each computation sees its own AsyncLocalStorage, and so does its entry', async () => {
    const svc = app.get(Contextual);
    await svc.probe(0); // connected
    const mixed: string[] = [];
    for (let round = 0; round < 200; round++) {
      const callers = ['alice', 'bob', 'carol'].map((who) => `${who}-${round}`);
      const results = await Promise.all(callers.map((t) => requestContext.run(t, () => svc.report(t))));
      for (const r of results) if (r.ranAs !== r.tenant) mixed.push(`${r.tenant} ran as ${r.ranAs}`);
    }
    await settle(app);
    for (const t of ['bob-0', 'carol-199']) {
      const hit = await requestContext.run(t, () => svc.report(t));
      if (hit.ranAs !== t) mixed.push(`entry of ${t} computed as ${hit.ranAs}`);
    }
    expect(mixed).toEqual([]);
  });

  it("withCacheMode('bypass') of one caller does not reach another caller's computation", async () => {
    const svc = app.get(Contextual);
    await svc.probe(0);
    const probe = cacheHandle(svc, 'probe');
    // A debug endpoint peeks under bypass while a normal request computes outer(2) in the same tick.
    await Promise.all([withCacheMode('bypass', () => probe.peek(1)), svc.outer(2)]);
    await settle(app);
    await svc.inner(2); // inner(2) was stored by outer(2)'s call: a hit
    expect(svc.modeSeen).toEqual([undefined]);
    expect(svc.innerRuns).toBe(1);
  });
});
