/*
 * A background refresh runs the method on a copy of plain-data arguments that keys like them.
 * Review of 5d1c977: arguments whose copy the method can tell apart were copied, and wrong values
 * stored (an own __proto__ key became the copy's prototype, an Array subclass, extra array keys,
 * holes, a Proxy, a non-enumerable field), a throwing getter failed every refresh, and shared
 * parts were copied once per path (2^18 reads). Such arguments are now the caller's own. Each test:
 * a miss, then a stale call (the background refresh), then what the key holds.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Ids extends Array<number> {
  label(): string {
    return `ids:${this.join('+')}`;
  }
}

const counters = { getter: 0, leaf: 0 };
const OPTS = { ttl: 40, grace: '1h' } as const;

@Injectable()
class Svc {
  gen = 0;
  /** Keyed by id only (a common `key` option); reads another field. */
  @CacheMemoize({ ...OPTS, key: (q: { id: number }) => q.id })
  async role(q: { id: number; isAdmin?: boolean }): Promise<string> {
    await Promise.resolve();
    return `${q.isAdmin === true ? 'SECRET' : 'public'}@${this.gen}`;
  }

  /** An Array subclass argument: keyed as a plain array. */
  @CacheMemoize(OPTS)
  async sub(ids: Ids): Promise<string> {
    await Promise.resolve();
    return `${ids instanceof Ids ? 'subclass' : 'PLAIN'}@${this.gen}`;
  }

  /** A getter the method never reads; the key option ignores it. */
  @CacheMemoize({ ...OPTS, key: (q: { id: number }) => q.id })
  async lazy(q: { id: number }): Promise<string> {
    await Promise.resolve();
    return `id${q.id}@${this.gen}`;
  }

  /** A shared-substructure (DAG) argument, keyed by id. */
  @CacheMemoize({ ...OPTS, key: (q: { id: number; graph: unknown }) => q.id })
  async dag(q: { id: number; graph: unknown }): Promise<string> {
    await Promise.resolve();
    return `dag${q.id}@${this.gen}`;
  }

  /** A non-enumerable field (a context stashed on a plain object), keyed by id. */
  @CacheMemoize({ ...OPTS, key: (q: { id: number }) => q.id })
  async hidden(q: { id: number; tenant?: string }): Promise<string> {
    await Promise.resolve();
    return `${q.tenant ?? 'NO-TENANT'}@${this.gen}`;
  }

  /** A Proxy with defaults for missing fields. */
  @CacheMemoize(OPTS)
  async proxied(q: { id: number; region?: string }): Promise<string> {
    await Promise.resolve();
    return `${q.region ?? 'NO-REGION'}@${this.gen}`;
  }

  /** Holes: `i in list`; keyed by length. */
  @CacheMemoize({ ...OPTS, key: (l: unknown[]) => l.length })
  async holes(list: unknown[]): Promise<string> {
    await Promise.resolve();
    return `${0 in list ? 'filled' : 'HOLE'}@${this.gen}`;
  }

  /** An array with an extra property (regex match result style). */
  @CacheMemoize(OPTS)
  async extra(m: string[] & { index?: number }): Promise<string> {
    await Promise.resolve();
    return `${m.index ?? 'NO-INDEX'}@${this.gen}`;
  }
}

const opened: TestingModule[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

async function cycle<T>(
  app: TestingModule,
  svc: Svc,
  call: () => Promise<T>,
): Promise<{ miss: T; stale: T; after: T }> {
  const miss = await call();
  await settle(app);
  await sleep(60); // stale
  svc.gen++;
  const stale = await call(); // served stale, refreshed in the background on the copy
  await settle(app);
  const after = await call(); // what the key holds now
  return { miss, stale, after };
}

describe.each<[string, () => CacheStore]>([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])('%s', (name, store) => {
  let app: TestingModule;
  let svc: Svc;
  beforeEach(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    app = await appOn(store(), uniquePrefix('copyfid'), [Svc]);
    opened.push(app);
    svc = app.get(Svc);
  });

  it('own __proto__ key (JSON.parse body) + key option: the copy inherits it', async () => {
    const body = () => JSON.parse('{"id":1,"__proto__":{"isAdmin":true}}') as { id: number };
    const r = await cycle(app, svc, () => svc.role(body()));
    expect(r.after).toBe('public@1');
  });

  it('Array subclass argument', async () => {
    const r = await cycle(app, svc, () => svc.sub(Ids.from([1, 2]) as Ids));
    expect(r.after).toBe('subclass@1');
  });

  it('a throwing getter the method never reads (key option)', async () => {
    const q = () => ({
      id: 7,
      get rows(): never {
        counters.getter++;
        throw new Error('not loaded');
      },
    });
    counters.getter = 0;
    const r = await cycle(app, svc, () => svc.lazy(q()));
    expect(r.after).toBe('id7@1');
  });

  it('DAG with shared substructure (key option): copy work grows as 2^depth', async () => {
    const DEPTH = 18;
    let n: Record<string, unknown> = {
      get v() {
        counters.leaf++;
        return 1;
      },
    };
    for (let i = 0; i < DEPTH; i++) n = { a: n, b: n };
    counters.leaf = 0;
    const r = await cycle(app, svc, () => svc.dag({ id: 1, graph: n }));
    expect(r.after).toBe('dag1@1');
    expect(counters.leaf).toBeLessThan(1000);
  });

  it('non-enumerable field (key option)', async () => {
    const q = () => Object.defineProperty({ id: 3 }, 'tenant', { value: 'acme', enumerable: false }) as { id: number };
    const r = await cycle(app, svc, () => svc.hidden(q()));
    expect(r.after).toBe('acme@1');
  });

  it('Proxy with defaults', async () => {
    const q = () =>
      new Proxy({ id: 4 } as { id: number; region?: string }, {
        get: (t, k) => (k in t ? (t as Record<PropertyKey, unknown>)[k] : k === 'region' ? 'eu' : undefined),
      });
    const r = await cycle(app, svc, () => svc.proxied(q()));
    expect(r.after).toBe('eu@1');
  });

  it('holes (key option)', async () => {
    // eslint-disable-next-line no-sparse-arrays
    const r = await cycle(app, svc, () => svc.holes([, 1]));
    expect(r.after).toBe('HOLE@1');
  });

  it('array with an extra property', async () => {
    const m = () => Object.assign(['a', 'b'], { index: 5 });
    const r = await cycle(app, svc, () => svc.extra(m()));
    expect(r.after).toBe('5@1');
  });
});
