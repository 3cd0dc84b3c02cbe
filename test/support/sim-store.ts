/**
 * A custom store as a README reader would write one (a reviewer's, kept): a "server" (here a Map shared by every
 * connection, with a network delay per command) and a client class implementing CacheStore.
 * Flaws can be switched on to check whether the conformance kit notices them.
 */
import type { CacheStore } from '../../lib';

export interface Flaws {
  /** add = GET then SET (serialised per connection, not across connections). */
  nonAtomicAdd?: boolean;
  /** compareAndSet = GET, compare, SET (serialised per connection). */
  nonAtomicCas?: boolean;
  /** compareAndDelete = GET, compare, DEL (serialised per connection). */
  nonAtomicCad?: boolean;
  /** get/getMany answer from a per-connection read cache for this long (own writes update it). */
  staleReadsMs?: number;
  /** add ignores its ttl (the key lives forever). */
  addIgnoresTtl?: boolean;
  /** disconnect() is final: later operations reject. */
  finalDisconnect?: boolean;
  /** clear(prefix) matches the prefix as a glob (SCAN MATCH prefix* without escaping). */
  globClear?: boolean;
  /** caps every ttl at this many ms. */
  ttlCapMs?: number;
}

type Row = { v: Uint8Array; exp: number };
export class SimServer {
  readonly data = new Map<string, Row>();
  live(k: string): Row | undefined {
    const r = this.data.get(k);
    if (r && r.exp <= Date.now()) {
      this.data.delete(k);
      return undefined;
    }
    return r;
  }
}

const hop = () => new Promise<void>((r) => setTimeout(r, 1 + Math.floor(Math.random() * 2)));
const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

export class SimStore implements CacheStore {
  readonly kind = 'sim';
  private chain: Promise<unknown> = Promise.resolve();
  private readonly readCache = new Map<string, { v: Uint8Array | undefined; at: number }>();
  private closed = false;
  constructor(
    readonly server: SimServer,
    private readonly flaws: Flaws = {},
  ) {}

  private check(): void {
    if (this.closed && this.flaws.finalDisconnect) throw new Error('sim: connection closed');
  }
  private ttl(ms: number, isAdd = false): number {
    if (isAdd && this.flaws.addIgnoresTtl) return Number.MAX_SAFE_INTEGER;
    return this.flaws.ttlCapMs !== undefined ? Math.min(ms, this.flaws.ttlCapMs) : ms;
  }
  /** One connection's commands one after another (as a single socket would). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
  private async rawGet(k: string): Promise<Uint8Array | undefined> {
    await hop();
    const r = this.server.live(k);
    return r ? new Uint8Array(r.v) : undefined;
  }
  private async rawSet(k: string, v: Uint8Array, ttl: number): Promise<void> {
    await hop();
    this.server.data.set(k, { v: new Uint8Array(v), exp: Date.now() + ttl });
    this.readCache.set(k, { v: new Uint8Array(v), at: Date.now() });
  }

  async get(k: string): Promise<Uint8Array | undefined> {
    this.check();
    const stale = this.flaws.staleReadsMs;
    if (stale !== undefined) {
      const c = this.readCache.get(k);
      if (c && Date.now() - c.at < stale) return c.v && new Uint8Array(c.v);
    }
    const v = await this.rawGet(k);
    if (stale !== undefined) this.readCache.set(k, { v, at: Date.now() });
    return v;
  }
  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return Promise.all(keys.map((k) => this.get(k)));
  }
  async set(k: string, v: Uint8Array, ttlMs: number): Promise<void> {
    this.check();
    await this.rawSet(k, v, this.ttl(ttlMs));
  }
  async add(k: string, v: Uint8Array, ttlMs: number): Promise<boolean> {
    this.check();
    if (this.flaws.nonAtomicAdd)
      return this.serial(async () => {
        if ((await this.rawGet(k)) !== undefined) return false;
        await this.rawSet(k, v, this.ttl(ttlMs, true));
        return true;
      });
    await hop();
    if (this.server.live(k)) return false;
    this.server.data.set(k, { v: new Uint8Array(v), exp: Date.now() + this.ttl(ttlMs, true) });
    this.readCache.set(k, { v: new Uint8Array(v), at: Date.now() });
    return true;
  }
  async delete(k: string): Promise<boolean> {
    this.check();
    await hop();
    this.readCache.delete(k);
    return this.server.live(k) !== undefined && this.server.data.delete(k);
  }
  async deleteMany(keys: readonly string[]): Promise<number> {
    let n = 0;
    for (const k of keys) if (await this.delete(k)) n++;
    return n;
  }
  async clear(prefix: string): Promise<void> {
    this.check();
    await hop();
    const glob = new RegExp(
      '^' +
        prefix
          .replace(/[.+^${}()|\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.'),
    );
    for (const k of [...this.server.data.keys()])
      if (this.flaws.globClear ? glob.test(k) : k.startsWith(prefix)) this.server.data.delete(k);
    for (const k of [...this.readCache.keys()]) if (k.startsWith(prefix)) this.readCache.delete(k);
  }
  async disconnect(): Promise<void> {
    this.closed = true;
  }
  async compareAndSet(k: string, expected: Uint8Array, value: Uint8Array, ttlMs: number): Promise<boolean> {
    this.check();
    if (this.flaws.nonAtomicCas)
      return this.serial(async () => {
        const cur = await this.rawGet(k);
        if (cur === undefined || !eq(cur, expected)) return false;
        await this.rawSet(k, value, this.ttl(ttlMs));
        return true;
      });
    await hop();
    const cur = this.server.live(k);
    if (cur === undefined || !eq(cur.v, expected)) return false;
    this.server.data.set(k, { v: new Uint8Array(value), exp: Date.now() + this.ttl(ttlMs) });
    this.readCache.set(k, { v: new Uint8Array(value), at: Date.now() });
    return true;
  }
  async compareAndDelete(k: string, value: Uint8Array): Promise<boolean> {
    this.check();
    if (this.flaws.nonAtomicCad)
      return this.serial(async () => {
        const cur = await this.rawGet(k);
        if (cur === undefined || !eq(cur, value)) return false;
        await hop();
        this.server.data.delete(k);
        return true;
      });
    await hop();
    const cur = this.server.live(k);
    if (cur === undefined || !eq(cur.v, value)) return false;
    this.readCache.delete(k);
    return this.server.data.delete(k);
  }
  async touch(keys: readonly string[], ttlMs: number): Promise<void> {
    this.check();
    await hop();
    for (const k of keys) {
      const r = this.server.live(k);
      if (r) r.exp = Date.now() + this.ttl(ttlMs);
    }
  }
}

/** What the README asks for: make, ttlGranularityMs, connectAgain (a second connection to the same data). */
export function simUnderTest(flaws: Flaws) {
  const server = new SimServer();
  return {
    make: () => new SimStore(server, flaws),
    ttlGranularityMs: 50,
    connectAgain: () => new SimStore(server, flaws),
  };
}
