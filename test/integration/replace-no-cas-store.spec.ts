/*
 * A custom shared store without compareAndSet (get/getMany/set/add/delete/deleteMany/clear only),
 * two instances on it. refresh/set/put/expire/invalidate races.
 * (Written by a reviewer of the replacement through the key's version; kept.)
 */
import type { CacheStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (n = 4) => sleep(Math.floor(Math.random() * n));

class MapStore implements CacheStore {
  readonly kind = 'mapstore';
  private readonly data = new Map<string, { v: Uint8Array; until: number }>();
  private async tick() {
    await new Promise((r) => setImmediate(r));
  }
  private live(key: string) {
    const e = this.data.get(key);
    if (e === undefined) return undefined;
    if (e.until <= Date.now()) {
      this.data.delete(key);
      return undefined;
    }
    return e.v;
  }
  async get(key: string) {
    await this.tick();
    return this.live(key);
  }
  async getMany(keys: readonly string[]) {
    await this.tick();
    return keys.map((k) => this.live(k));
  }
  async set(key: string, value: Uint8Array, ttlMs: number) {
    await this.tick();
    this.data.set(key, { v: Uint8Array.from(value), until: Date.now() + ttlMs });
  }
  async add(key: string, value: Uint8Array, ttlMs: number) {
    await this.tick();
    if (this.live(key) !== undefined) return false;
    this.data.set(key, { v: Uint8Array.from(value), until: Date.now() + ttlMs });
    return true;
  }
  async delete(key: string) {
    await this.tick();
    return this.data.delete(key);
  }
  async deleteMany(keys: readonly string[]) {
    await this.tick();
    let n = 0;
    for (const k of keys) if (this.data.delete(k)) n++;
    return n;
  }
  async clear(prefix: string) {
    await this.tick();
    for (const k of [...this.data.keys()]) if (k.startsWith(prefix)) this.data.delete(k);
  }
  async disconnect() {}
}

describe('custom store without compareAndSet', () => {
  const store = new MapStore();
  const prefix = uniquePrefix('nocas');
  const a = new Memoizer(store, { prefix });
  const b = new Memoizer(store, { prefix });
  const tag = `${prefix}:~t:x`;
  const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('set on B replaces the entry A cached, on both', async () => {
    const key = `${prefix}:s`;
    expect(await a.getOrSet(key, async () => 'old', policy)).toBe('old');
    await b.refresh(key, () => 'new', policy);
    expect(await a.getOrSet(key, async () => 'recomputed', policy)).toBe('new');
    expect(await b.getOrSet(key, async () => 'recomputed', policy)).toBe('new');
  });

  it('put on A vs set on B vs invalidate: never the old value, never served after invalidation', async () => {
    const bad: string[] = [];
    for (let round = 0; round < 200; round++) {
      const key = `${prefix}:k${round % 5}`;
      await a.invalidateKeys([key]);
      await a.getOrSet(key, async () => `old${round}`, policy);
      const written: string[] = [];
      await Promise.all([
        (async () => {
          await jitter();
          await a.put(key, async () => (await jitter(), written.push(`put${round}`), `put${round}`), policy);
        })(),
        (async () => {
          await jitter();
          written.push(`set${round}`);
          await b.refresh(key, () => `set${round}`, policy);
        })(),
        (async () => {
          await jitter();
          await b.expire(key, 100_000, policy).catch(() => undefined);
        })(),
      ]);
      for (const [n, m] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const got = await m.getOrSet(key, async () => `computed${round}`, policy);
        if (!written.includes(got) && got !== `computed${round}`) bad.push(`round ${round} ${n}: ${got}`);
      }
      await b.invalidateDeps([tag]);
      for (const [n, m] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const got = await m.getOrSet(key, async () => `after${round}`, policy);
        if (got !== `after${round}`) bad.push(`round ${round} ${n} after invalidation: ${got}`);
      }
    }
    expect(bad).toEqual([]);
  }, 60_000);
});
