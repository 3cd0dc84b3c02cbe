import { Memoizer } from '../../lib/engine/memoizer';
import { memoryStore } from '../../lib/stores/memory.store';
import type { CacheEvent } from '../../lib/types/events';
import type { CacheStore } from '../../lib/types/store';
import { testPolicy as policy } from '../support/policy';
const tick = () => new Promise((r) => setImmediate(r));

/** A byte store kept in a Map: exercises the remote (serializing) path of the memoizer. */
class MapByteStore implements CacheStore {
  readonly kind = 'map';
  readonly data = new Map<string, Uint8Array>();
  failing = false;
  async get(key: string) {
    this.check();
    return this.data.get(key);
  }
  async getMany(keys: readonly string[]) {
    this.check();
    return keys.map((k) => this.data.get(k));
  }
  async set(key: string, value: Uint8Array) {
    this.check();
    this.data.set(key, value);
  }
  async add(key: string, value: Uint8Array) {
    this.check();
    if (this.data.has(key)) return false;
    this.data.set(key, value);
    return true;
  }
  async delete(key: string) {
    this.check();
    return this.data.delete(key);
  }
  async deleteMany(keys: readonly string[]) {
    let n = 0;
    for (const k of keys) if (await this.delete(k)) n++;
    return n;
  }
  async clear(prefix: string) {
    for (const k of [...this.data.keys()]) if (k.startsWith(prefix)) this.data.delete(k);
  }
  async disconnect() {}
  private check() {
    if (this.failing) throw new Error('store down');
  }
}

describe.each([
  ['memory (objects)', () => memoryStore()],
  ['byte store (serialized)', () => new MapByteStore()],
])('Memoizer on %s', (_name, makeStore) => {
  it('runs a cold key once for 100 concurrent callers', async () => {
    const m = new Memoizer(makeStore());
    let runs = 0;
    const factory = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 20));
      return { value: 42 };
    };
    const results = await Promise.all(Array.from({ length: 100 }, () => m.getOrSet('k', factory, policy())));
    expect(runs).toBe(1);
    expect(results.every((r) => r.value === 42)).toBe(true);
    await tick();
    expect(await m.getOrSet('k', factory, policy())).toEqual({ value: 42 });
    expect(runs).toBe(1);
  });

  it('gives every concurrent caller the error, and does not cache it', async () => {
    const m = new Memoizer(makeStore());
    let runs = 0;
    const failing = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('nope');
    };
    const settled = await Promise.allSettled(Array.from({ length: 100 }, () => m.getOrSet('k', failing, policy())));
    expect(runs).toBe(1);
    expect(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'nope')).toBe(true);
    expect(await m.getOrSet('k', async () => 'ok', policy())).toBe('ok');
    expect(runs).toBe(1);
  });

  it('caches null and undefined as values', async () => {
    const m = new Memoizer(makeStore());
    let runs = 0;
    for (let i = 0; i < 3; i++) {
      expect(await m.getOrSet('n', async () => (runs++, null), policy())).toBeNull();
      expect(await m.getOrSet('u', async () => (runs++, undefined), policy())).toBeUndefined();
      await tick();
    }
    expect(runs).toBe(2);
  });

  it('expires entries after ttl', async () => {
    let now = 1_000_000;
    const m = new Memoizer(makeStore(), { now: () => now });
    let runs = 0;
    const f = async () => ++runs;
    expect(await m.getOrSet('k', f, policy({ ttlMs: 1000 }))).toBe(1);
    await tick();
    now += 999;
    expect(await m.getOrSet('k', f, policy({ ttlMs: 1000 }))).toBe(1);
    now += 1;
    expect(await m.getOrSet('k', f, policy({ ttlMs: 1000 }))).toBe(2);
  });

  it('invalidates by tag versions, including tags known only from the result', async () => {
    const m = new Memoizer(makeStore());
    let runs = 0;
    const p = policy({ deps: ['t:a'] });
    const scope = { resultDeps: (v: unknown) => [`t:org${(v as { org: number }).org}`] };
    const f = async () => ({ org: 7, n: ++runs });
    await m.getOrSet('k', f, p, scope);
    await tick();
    expect((await m.getOrSet('k', f, p, scope)).n).toBe(1);
    await m.invalidateDeps(['t:other']);
    expect((await m.getOrSet('k', f, p, scope)).n).toBe(1);
    await m.invalidateDeps(['t:a']);
    expect((await m.getOrSet('k', f, p, scope)).n).toBe(2);
    await tick();
    await m.invalidateDeps(['t:org7']);
    expect((await m.getOrSet('k', f, p, scope)).n).toBe(3);
  });

  it('never stores a value whose computation overlapped an invalidation', async () => {
    const m = new Memoizer(makeStore());
    let release!: () => void;
    let runs = 0;
    const slow = () =>
      new Promise<string>((resolve) => {
        const value = `v${++runs}`;
        release = () => resolve(value);
      });
    const p = policy({ deps: ['t'] });
    const first = m.getOrSet('k', slow, p);
    await tick();
    const releaseFirst = release;
    await m.invalidateDeps(['t']);
    // A call that starts after the invalidation does not join the old computation.
    const second = m.getOrSet('k', slow, p);
    await tick();
    release();
    releaseFirst();
    expect(await first).toBe('v1');
    expect(await second).toBe('v2');
    expect(runs).toBe(2);
    await tick();
    expect(await m.getOrSet('k', async () => 'v3', p)).toBe('v2');

    let releaseKey!: () => void;
    const third = m.getOrSet('k2', () => new Promise<string>((r) => (releaseKey = () => r('old'))), p);
    await tick();
    await m.invalidateKeys(['k2']);
    releaseKey();
    expect(await third).toBe('old');
    await tick();
    expect(await m.getOrSet('k2', async () => 'new', p)).toBe('new');
  });

  it('respects cacheIf and survives throwing policy callbacks', async () => {
    const events: CacheEvent[] = [];
    const m = new Memoizer(makeStore(), { listener: (e) => events.push(e) });
    let runs = 0;
    const p = policy({ cacheIf: (v) => v !== 'skip' });
    expect(await m.getOrSet('k', async () => (runs++, 'skip'), p)).toBe('skip');
    await tick();
    expect(await m.getOrSet('k', async () => (runs++, 'skip'), p)).toBe('skip');
    expect(runs).toBe(2);
    const bad = policy({
      cacheIf: () => {
        throw new Error('bad cacheIf');
      },
    });
    expect(await m.getOrSet('b', async () => 'value', bad)).toBe('value');
    await tick();
    expect(events.some((e) => e.type === 'error' && e.operation === 'policy')).toBe(true);
  });
});

describe('Memoizer on a failing store', () => {
  it('returns the factory result and reports errors when the store throws', async () => {
    const store = new MapByteStore();
    store.failing = true;
    const events: CacheEvent[] = [];
    const m = new Memoizer(store, { listener: (e) => events.push(e) });
    let runs = 0;
    expect(await m.getOrSet('k', async () => ++runs, policy())).toBe(1);
    await tick();
    expect(await m.getOrSet('k', async () => ++runs, policy())).toBe(2);
    expect(events.filter((e) => e.type === 'error').length).toBeGreaterThan(0);
    // An invalidation that could not be written must not pretend it was.
    await expect(m.invalidateDeps(['t'])).rejects.toMatchObject({ code: 'CACHE_MEMOIZE_STORE_FAILURE' });
  });

  it('bounds a hanging store by the operation timeout', async () => {
    const store = new MapByteStore();
    store.getMany = () => new Promise(() => undefined);
    const m = new Memoizer(store, { operationTimeoutMs: 50 });
    jest.useFakeTimers();
    try {
      let settled: string | undefined;
      void m.getOrSet('k', async () => 'v', policy()).then((v) => (settled = v));
      await jest.advanceTimersByTimeAsync(49);
      expect(settled).toBeUndefined(); // still waiting for the store...
      await jest.advanceTimersByTimeAsync(1);
      expect(settled).toBe('v'); // ...until the operation timeout, then it computes
    } finally {
      jest.useRealTimers();
    }
  });

  it('treats garbage bytes under a key as a miss and overwrites them', async () => {
    const store = new MapByteStore();
    store.data.set('k', new Uint8Array(Buffer.from('garbage')));
    const m = new Memoizer(store);
    expect(await m.getOrSet('k', async () => 'fresh', policy())).toBe('fresh');
    await tick();
    expect(await m.getOrSet('k', async () => 'other', policy())).toBe('fresh');
  });
});

describe('Memoizer batched lookups', () => {
  const recording = () => {
    const store = new MapByteStore();
    const reads: string[][] = [];
    const getMany = store.getMany.bind(store);
    store.getMany = (keys) => (reads.push([...keys]), getMany(keys));
    return { store, reads };
  };

  it('reads the lookups of one burst with one multi-key read, the epoch first, at most 256 per read', async () => {
    const { store, reads } = recording();
    const m = new Memoizer(store, { prefix: 'app' });
    const keys = Array.from({ length: 600 }, (_, i) => `app:k${i}`);
    await Promise.all(keys.map((k, i) => m.getOrSet(k, async () => i, policy())));
    await tick();
    reads.length = 0;
    let runs = 0;
    const values = await Promise.all(keys.map((k) => m.getOrSet(k, async () => ++runs, policy())));
    expect(values).toEqual(keys.map((_, i) => i));
    expect(runs).toBe(0);
    expect(reads.map((r) => r.length)).toEqual([257, 257, 89]);
    expect(reads.every((r) => r[0] === 'app:~epoch')).toBe(true);
    expect(reads.flatMap((r) => r.slice(1))).toEqual(keys);
  });

  it('lets concurrent callers of one key share its read, and sends a new batch for lookups after one was sent', async () => {
    const { store, reads } = recording();
    const m = new Memoizer(store, { prefix: 'app' });
    await Promise.all([m.getOrSet('app:a', async () => 'a', policy()), m.getOrSet('app:b', async () => 'b', policy())]);
    await tick();
    reads.length = 0;
    const same = await Promise.all([
      m.getOrSet('app:a', async () => 'x', policy()),
      m.getOrSet('app:a', async () => 'x', policy()),
    ]);
    expect(same).toEqual(['a', 'a']);
    expect(reads).toEqual([['app:~epoch', 'app:a']]);
    reads.length = 0;
    const first = m.getOrSet('app:a', async () => 'x', policy());
    await Promise.resolve(); // the batch of `first` is sent in the microtask queued before this continuation
    const second = m.getOrSet('app:b', async () => 'x', policy());
    expect([await first, await second]).toEqual(['a', 'b']);
    expect(reads).toEqual([
      ['app:~epoch', 'app:a'],
      ['app:~epoch', 'app:b'],
    ]);
  });

  it('answers every caller of a failed batch read by computing, with one error event for the read', async () => {
    const { store } = recording();
    const events: CacheEvent[] = [];
    const m = new Memoizer(store, { listener: (e) => events.push(e) });
    await m.getOrSet('seed', async () => 0, policy()); // the epoch is seeded before the store fails
    store.failing = true;
    events.length = 0;
    let runs = 0;
    const values = await Promise.all(
      Array.from({ length: 10 }, (_, i) => m.getOrSet(`k${i}`, async () => (runs++, i), policy())),
    );
    expect(values).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(runs).toBe(10);
    expect(events.filter((e) => e.type === 'error' && e.operation === 'getMany')).toHaveLength(1);
  });
});

describe('Memoizer circuit breaker', () => {
  it('stops calling a failing store, reports the outage once, and probes until it recovers', async () => {
    let now = 1_000_000;
    const store = new MapByteStore();
    let calls = 0;
    const getMany = store.getMany.bind(store);
    store.getMany = (keys) => (calls++, getMany(keys));
    store.failing = true;
    const events: CacheEvent[] = [];
    const m = new Memoizer(store, {
      now: () => now,
      circuitBreaker: { failureThreshold: 3, cooldownMs: 1000 },
      listener: (e) => events.push(e),
    });
    for (let i = 0; i < 20; i++) expect(await m.getOrSet(`k${i}`, async () => i, policy())).toBe(i);
    await tick();
    expect(m.breaker.state).toBe('open');
    const callsWhileOpen = calls;
    for (let i = 0; i < 20; i++) await m.getOrSet(`x${i}`, async () => i, policy());
    expect(calls).toBe(callsWhileOpen); // not called at all while open
    expect(events.filter((e) => e.type === 'circuit')).toHaveLength(1);

    store.failing = false;
    now += 1_001;
    expect(await m.getOrSet('k', async () => 'v', policy())).toBe('v');
    expect(m.breaker.state).toBe('closed');
    const circuit = events.filter((e) => e.type === 'circuit');
    expect(circuit.map((e) => (e as { state: string }).state)).toEqual(['open', 'closed']);
    await tick();
    expect(await m.getOrSet('k', async () => 'other', policy())).toBe('v');
  });
});

describe('Memoizer sync path', () => {
  it('stays synchronous on a local store', () => {
    const m = new Memoizer(memoryStore());
    let runs = 0;
    const r1 = m.getOrSetSync('k', () => ++runs, policy());
    const r2 = m.getOrSetSync('k', () => ++runs, policy());
    expect([r1, r2, runs]).toEqual([1, 1, 1]);
    expect(() =>
      m.getOrSetSync(
        'e',
        () => {
          throw new Error('x');
        },
        policy(),
      ),
    ).toThrow('x');
    expect(m.getOrSetSync('e', () => 'ok', policy())).toBe('ok');
  });
});
