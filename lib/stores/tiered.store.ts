import { randomUUID } from 'node:crypto';
import { parseDuration, type Duration } from '../core/duration';
import { InvalidOptionError } from '../errors';
import type { CacheStore } from './cache-store.interface';
import { MemoryStore } from './memory.store';
import { RedisBus, type BusMessage } from './redis-bus';
import { RedisStore } from './redis.store';

/** Channel of the byte API (direct store use); the memoizer uses one per app prefix. */
const BYTES_CHANNEL = 'nestjs-cache-memoize:~bus';

export interface TieredStoreOptions {
  /** Longest an entry lives in L1 while the bus is healthy. Default '1m' (and never past its own ttl). */
  l1Ttl?: Duration;
  /** Longest an entry lives in L1 while the bus is down or not yet subscribed. Default '1s'. */
  l1TtlWithoutBus?: Duration;
  /** Keep L1 coherent across instances through Redis pub/sub. Default: on when L2 is Redis. */
  bus?: boolean;
}

/**
 * Memory (L1) over a shared store (L2). The memoizer reads L1 first (objects, no decoding),
 * then L2, and fills L1 on an L2 hit; writes and invalidations go to L2 and are published on the
 * bus, and every other instance drops its L1 copies on receipt.
 *
 * Consistency: while the bus is up, another instance stops serving an invalidated entry as soon
 * as the message arrives (milliseconds on a LAN); while it is down, L1 entries live at most
 * `l1TtlWithoutBus`, and L1 is dropped whole when the bus reconnects.
 */
export class TieredStore implements CacheStore {
  readonly kind = 'tiered';
  readonly description: string;
  readonly instanceId = randomUUID();
  readonly l1TtlMs: number;
  readonly l1TtlWithoutBusMs: number;
  readonly bus: RedisBus | undefined;

  constructor(
    readonly l1: MemoryStore,
    readonly l2: CacheStore,
    options: TieredStoreOptions = {},
  ) {
    if (!(l1 instanceof MemoryStore)) throw new InvalidOptionError('tieredStore(l1, l2): l1 must be a memoryStore().');
    if (l2 instanceof MemoryStore || l2 instanceof TieredStore) {
      throw new InvalidOptionError('tieredStore(l1, l2): l2 must be a shared store (redisStore() or memcachedStore()).');
    }
    this.l1TtlMs = parseDuration(options.l1Ttl ?? '1m', 'tieredStore(): l1Ttl');
    this.l1TtlWithoutBusMs = parseDuration(options.l1TtlWithoutBus ?? '1s', 'tieredStore(): l1TtlWithoutBus');
    const wantBus = options.bus ?? l2 instanceof RedisStore;
    if (wantBus && !(l2 instanceof RedisStore)) {
      throw new InvalidOptionError('tieredStore(): bus: true needs a redisStore() as l2 (pub/sub); memcached has none.');
    }
    this.bus = wantBus ? (l2 as RedisStore).createBus() : undefined;
    // Direct byte-API users (no memoizer) still get coherent L1s.
    this.bus?.start(BYTES_CHANNEL, (m) => {
      if (m.from === this.instanceId) return;
      for (const key of m.keys ?? []) this.l1.remove(key);
      if (m.clear !== undefined) void this.l1.clear(m.clear);
    }, () => this.l1.clearAll());
    this.description = `memory over ${l2.kind}${l2.description ? ` ${l2.description}` : ''}${this.bus ? ', with invalidation bus' : ', no bus'}`;
  }

  /** How long an entry may live in L1 right now. */
  l1Lifetime(remainingMs: number): number {
    const cap = this.bus?.healthy ? this.l1TtlMs : this.l1TtlWithoutBusMs;
    return Math.max(1, Math.min(remainingMs, cap));
  }

  /** Starts listening for other instances' invalidations (called by the memoizer, which knows the prefix). */
  listen(channel: string, onMessage: (message: BusMessage) => void): void {
    this.bus?.start(channel, (m) => m.from !== this.instanceId && onMessage(m), () => this.l1.clearAll());
  }

  publish(channel: string, message: Omit<BusMessage, 'from'>): Promise<void> {
    return this.bus === undefined ? Promise.resolve() : this.bus.publish(channel, { ...message, from: this.instanceId });
  }

  // The byte contract (used directly, e.g. by the conformance suite): L1 in front of L2.
  async get(key: string): Promise<Uint8Array | undefined> {
    const near = await this.l1.get(key);
    if (near !== undefined) return near;
    const far = await this.l2.get(key);
    if (far !== undefined) this.l1.put(key, far, this.l1Lifetime(this.l1TtlMs));
    return far;
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    await this.l2.set(key, value, ttlMs);
    this.l1.put(key, value, this.l1Lifetime(ttlMs));
    await this.publish(BYTES_CHANNEL, { keys: [key] });
  }

  async add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    const added = await this.l2.add(key, value, ttlMs);
    if (added) this.l1.remove(key);
    return added;
  }

  async delete(key: string): Promise<boolean> {
    this.l1.remove(key);
    const deleted = await this.l2.delete(key);
    await this.publish(BYTES_CHANNEL, { keys: [key] });
    return deleted;
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    for (const key of keys) this.l1.remove(key);
    const n = await this.l2.deleteMany(keys);
    await this.publish(BYTES_CHANNEL, { keys });
    return n;
  }

  async clear(prefix: string): Promise<void> {
    await this.l1.clear(prefix);
    await this.l2.clear(prefix);
    await this.publish(BYTES_CHANNEL, { clear: prefix });
  }

  async ready(timeoutMs: number): Promise<boolean> {
    return this.l2.ready === undefined ? true : this.l2.ready(timeoutMs);
  }

  async time(): Promise<number> {
    if (this.l2.time === undefined) throw new Error('L2 has no clock');
    return this.l2.time();
  }

  get boundsOwnOperations(): boolean | undefined {
    return this.l2.boundsOwnOperations;
  }

  async compareAndDelete(key: string, value: Uint8Array): Promise<boolean> {
    if (this.l2.compareAndDelete === undefined) throw new Error('L2 has no compare-and-delete');
    return this.l2.compareAndDelete(key, value);
  }

  async disconnect(): Promise<void> {
    await this.bus?.close();
    await this.l1.disconnect();
    await this.l2.disconnect();
  }
}

export function tieredStore(l1: MemoryStore, l2: CacheStore, options?: TieredStoreOptions): TieredStore {
  return new TieredStore(l1, l2, options);
}

export function isTieredStore(store: CacheStore): store is TieredStore {
  return store instanceof TieredStore;
}
