import { parseDuration, TIMER, type Duration } from '../util/duration';
import { InvalidOptionError } from '../errors';
import type { BusTransport } from '../types/bus';
import type { CacheStore, SharedEntryOptions } from '../types/store';
import { checkEntryOptions } from '../util/entry-options';
import { MemoryStore } from './memory.store';
import { RedisStore } from './redis/redis.store';

export interface TieredStoreOptions extends SharedEntryOptions {
  /** Longest an entry lives in L1 (and never past its own ttl). Default '1m'. */
  l1Ttl?: Duration;
  /**
   * Keep L1 coherent across instances through Redis pub/sub. Default: on when L2 is Redis. Without
   * a bus (memcached) every L1 hit is confirmed by reading the L2 epoch (still no decoding).
   */
  bus?: boolean;
  /**
   * How long an instance may serve L1 hits after it last heard its own bus ping. An invalidation
   * waits at most about this long for other instances to acknowledge it. Default '1s'.
   */
  lease?: Duration;
  /** @deprecated no longer used: without a healthy bus, L1 hits are confirmed against L2 instead. */
  l1TtlWithoutBus?: Duration;
}

/**
 * Memory (L1) over a shared store (L2), for memory-speed hits with fleet-wide sharing. The store
 * holds the parts; the engine's two-tier topology reads L1 first, fills it from L2, and keeps it
 * coherent through the bus. Used directly as a byte store, it is its L2.
 */
export class TieredStore implements CacheStore {
  readonly kind = 'tiered';
  readonly description: string;
  readonly l1TtlMs: number;
  readonly leaseMs: number;
  readonly bus: BusTransport | undefined;
  /** Its own, else L2's. */
  readonly entryOptions: SharedEntryOptions | undefined;
  /** L2's, when it has one. */
  readonly compareAndDelete?: (key: string, value: Uint8Array) => Promise<boolean>;
  readonly compareAndSet?: (key: string, expected: Uint8Array, value: Uint8Array, ttlMs: number) => Promise<boolean>;

  constructor(
    readonly l1: MemoryStore,
    readonly l2: CacheStore,
    options: TieredStoreOptions = {},
  ) {
    if (!(l1 instanceof MemoryStore)) throw new InvalidOptionError('tieredStore(l1, l2): l1 must be a memoryStore().');
    if (l2 instanceof MemoryStore || l2 instanceof TieredStore) {
      throw new InvalidOptionError(
        'tieredStore(l1, l2): l2 must be a shared store (redisStore() or memcachedStore()).',
      );
    }
    this.entryOptions =
      options.secret !== undefined || options.compress !== undefined
        ? checkEntryOptions(
            {
              secret: options.secret ?? l2.entryOptions?.secret,
              compress: options.compress ?? l2.entryOptions?.compress,
            },
            'tieredStore()',
          )
        : l2.entryOptions;
    this.l1TtlMs = parseDuration(options.l1Ttl ?? '1m', 'tieredStore(): l1Ttl');
    this.leaseMs = parseDuration(options.lease ?? '1s', 'tieredStore(): lease', TIMER);
    const wantBus = options.bus ?? l2 instanceof RedisStore;
    if (wantBus && !(l2 instanceof RedisStore)) {
      throw new InvalidOptionError(
        'tieredStore(): bus: true needs a redisStore() as l2 (pub/sub); memcached has none.',
      );
    }
    this.bus = wantBus ? (l2 as RedisStore).createBus() : undefined;
    if (l2.compareAndDelete !== undefined) this.compareAndDelete = l2.compareAndDelete.bind(l2);
    if (l2.compareAndSet !== undefined) this.compareAndSet = l2.compareAndSet.bind(l2);
    this.description = `memory over ${l2.kind}${l2.description ? ` ${l2.description}` : ''}${this.bus ? ', with invalidation bus' : ', no bus'}`;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.l2.get(key);
  }

  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return this.l2.getMany(keys);
  }

  set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    return this.l2.set(key, value, ttlMs);
  }

  add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    return this.l2.add(key, value, ttlMs);
  }

  delete(key: string): Promise<boolean> {
    this.l1.remove(key);
    return this.l2.delete(key);
  }

  deleteMany(keys: readonly string[]): Promise<number> {
    for (const key of keys) this.l1.remove(key);
    return this.l2.deleteMany(keys);
  }

  async clear(prefix: string): Promise<void> {
    await this.l1.clear(prefix);
    await this.l2.clear(prefix);
  }

  get connectionProblem(): string | undefined {
    return this.l2.connectionProblem;
  }

  /**
   * L2 is reachable — and, with a bus, its subscription is up: L1 serves nothing before that (its
   * first subscription drops every copy made until then), so an app starts with L1 working.
   */
  async ready(timeoutMs: number): Promise<boolean> {
    const started = performance.now();
    const l2 = this.l2.ready === undefined ? true : await this.l2.ready(timeoutMs);
    if (!l2 || this.bus?.whenUp === undefined) return l2;
    await this.bus.whenUp(Math.max(0, timeoutMs - (performance.now() - started)));
    return true;
  }

  touch(keys: readonly string[], ttlMs: number): Promise<void> {
    return this.l2.touch === undefined ? Promise.resolve() : this.l2.touch(keys, ttlMs);
  }

  get boundsOwnOperations(): boolean | undefined {
    return this.l2.boundsOwnOperations;
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
