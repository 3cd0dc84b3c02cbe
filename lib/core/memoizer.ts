import { randomInt } from 'node:crypto';
import type { CacheStore, LocalCacheStore } from '../stores/cache-store.interface';
import { isLocalStore } from '../stores/cache-store.interface';
import type { Serializer } from '../serialization/serializer.interface';
import { taggedJsonSerializer } from '../serialization/tagged-json.serializer';
import { StoreFailureError } from '../errors';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker';
import type { Envelope } from './envelope';
import { decodeEnvelope, encodeEnvelope, type EncodedEnvelope } from './envelope-codec';
import type { CacheEvent, CacheEventListener } from './events';

/** How one call is cached; built once per decorated method (plus per-call tags). */
export interface MemoizePolicy<T = unknown> {
  /** Fresh lifetime, ms. */
  ttlMs: number;
  /** Extra time a stale value may be served while it is refreshed, ms (0 = none). */
  graceMs?: number;
  /** Tag keys known before the call: namespace segments plus tags derived from the arguments. */
  tagKeys: readonly string[];
  /** Tag keys derived from the result (dependency keys), merged into the envelope's tags. */
  resultTagKeys?: (value: T) => readonly string[];
  /** Store the result only when this returns true. */
  cacheIf?: (value: T) => boolean;
  /** Identifies the caller in events and logs (e.g. 'UserService.getUser'). */
  owner?: string;
}

export interface MemoizerOptions {
  /** Name used in events and logs. */
  name?: string;
  /** Key prefix of the app: the invalidation epoch lives under it. Default 'cm'. */
  prefix?: string;
  serializer?: Serializer;
  /** Upper bound on one store operation, ms: a slow store costs a call no more than this. */
  operationTimeoutMs?: number;
  /** Minimum lifetime of tag timestamps; raised to the longest entry lifetime seen. */
  tagTtlMs?: number;
  circuitBreaker?: CircuitBreakerOptions;
  listener?: CacheEventListener;
  now?: () => number;
  /**
   * Clock skew allowed between hosts sharing the store, ms: a tag invalidated at T makes stale
   * every entry created before T + tolerance. Default 50. Stores that can tell their own time
   * (Redis TIME) also correct this host's clock to theirs.
   */
  clockTolerance?: number;
  /** Use the store's clock when it offers one (default true). */
  syncClock?: boolean;
}

/**
 * Wall-clock milliseconds with sub-millisecond precision: an invalidation and a computation that
 * start in the same millisecond are still ordered (a tie counts as stale, never as fresh).
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

interface Flight<T> {
  promise: Promise<T>;
  /** Tag keys known when it started: an invalidation of any of them detaches the flight. */
  tagKeys: readonly string[];
  /** Set when the key is invalidated while computing: the result must not be stored. */
  cancelled: boolean;
}

interface RemoteRead<T> {
  env: { v: T } | undefined;
  /** Invalidation epoch seen by this read, stored with a value computed after it. */
  epoch: string | undefined;
}

const NO_READ: RemoteRead<never> = { env: undefined, epoch: undefined };
const encodeAscii = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const decodeAscii = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/**
 * The engine (dogpile's region): read envelope, decide freshness from it and from tag
 * timestamps, otherwise compute once per key per process and store. Framework-free.
 * A store failure is a miss: the factory's result is always returned.
 *
 * Shared stores keep an invalidation epoch (a random token replaced by every invalidation)
 * beside the entries: a hit reads the entry and the epoch in one round trip, and only when the
 * epoch moved since the entry was computed does it read the entry's tag timestamps.
 */
export class Memoizer {
  readonly name: string;
  readonly store: CacheStore;
  readonly breaker: CircuitBreaker;
  private readonly local: LocalCacheStore | undefined;
  private readonly serializer: Serializer;
  private readonly timeoutMs: number;
  private readonly listener: CacheEventListener | undefined;
  private readonly now: () => number;
  private readonly epochKey: string;
  private tagTtlMs: number;
  private readonly inflight = new Map<string, Flight<unknown>>();
  private epochSeeded = false;
  private epochBatch: Promise<string | undefined> | undefined;
  private readonly tolerance: number;
  private readonly syncClock: boolean;
  /** Store clock minus local clock, ms (0 until measured, or for stores without a clock). */
  private clockOffset = 0;
  private clockSyncedAt = Number.NEGATIVE_INFINITY;

  constructor(store: CacheStore, options: MemoizerOptions = {}) {
    this.store = store;
    this.local = isLocalStore(store) ? store : undefined;
    this.name = options.name ?? store.kind;
    this.serializer = options.serializer ?? taggedJsonSerializer;
    this.timeoutMs = options.operationTimeoutMs ?? 1_000;
    this.tagTtlMs = options.tagTtlMs ?? 86_400_000;
    this.listener = options.listener;
    this.now = options.now ?? preciseNow;
    this.epochKey = `${options.prefix ?? 'cm'}:~epoch`;
    this.tolerance = options.clockTolerance ?? 50;
    this.syncClock = options.syncClock ?? true;
    this.breaker = new CircuitBreaker({
      now: this.now,
      ...options.circuitBreaker,
      onOpen: (error, failures) => {
        this.emit({ type: 'circuit', state: 'open', store: this.name, error, failures });
        options.circuitBreaker?.onOpen?.(error, failures);
      },
      onClose: (skipped, downForMs) => {
        this.emit({ type: 'circuit', state: 'closed', store: this.name, skipped, downForMs });
        options.circuitBreaker?.onClose?.(skipped, downForMs);
      },
    });
  }

  get isLocal(): boolean {
    return this.local !== undefined;
  }

  /** Keeps tag timestamps alive at least as long as any entry they may invalidate. */
  registerLifetime(ms: number): void {
    if (ms > this.tagTtlMs) this.tagTtlMs = ms;
  }

  async getOrSet<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>): Promise<T> {
    if (this.local !== undefined) {
      const now = this.expiryNow();
      const env = this.local.peek(key, now) as Envelope<T> | undefined;
      if (env !== undefined && env.e > now && this.isTagFresh(env, this.local)) {
        this.emitHit(key, policy);
        return env.v;
      }
      return this.compute(key, factory, policy, undefined);
    }
    const existing = this.inflight.get(key) as Flight<T> | undefined;
    if (existing !== undefined) return existing.promise;
    const read = await this.readRemote<T>(key);
    if (read.env !== undefined) {
      this.emitHit(key, policy);
      return read.env.v;
    }
    return this.compute(key, factory, policy, read.epoch);
  }

  /**
   * Synchronous variant for local stores, so a sync method stays sync. No single-flight is
   * needed: nothing can interleave with a synchronous computation.
   */
  getOrSetSync<T>(key: string, factory: () => T, policy: MemoizePolicy<T>): T {
    const local = this.requireLocal('getOrSetSync');
    const env = local.peek(key) as Envelope<T> | undefined;
    if (env !== undefined && this.isFreshLocal(env, local)) {
      this.emitHit(key, policy);
      return env.v;
    }
    this.emit({ type: 'miss', key, store: this.name, owner: policy.owner });
    const createdAt = this.now();
    const value = factory();
    this.writeLocal(local, key, value, createdAt, policy);
    return value;
  }

  /** The fresh cached value, if any, without computing. */
  async peek<T>(key: string): Promise<{ v: T } | undefined> {
    if (this.local !== undefined) {
      const env = this.local.peek(key) as Envelope<T> | undefined;
      return env !== undefined && this.isFreshLocal(env, this.local) ? env : undefined;
    }
    return (await this.readRemote<T>(key)).env;
  }

  /** Computes and stores unconditionally (refresh). */
  async refresh<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>): Promise<T> {
    this.cancelFlight(key);
    const epoch = this.local === undefined ? await this.readEpoch() : undefined;
    return this.compute(key, factory, policy, epoch);
  }

  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.cancelFlight(key);
    if (this.local !== undefined) {
      for (const key of keys) this.local.remove(key);
    } else if (keys.length > 0) {
      await this.guard('deleteMany', keys[0], () => this.store.deleteMany(keys), 0, true);
    }
    this.emit({ type: 'invalidate', keys, store: this.name });
  }

  /** Bentocache-style: write `now` under each tag key; entries created at or before it are stale. */
  async invalidateTagKeys(tagKeys: readonly string[]): Promise<void> {
    // Callers starting after this resolves must not join a computation that started before it,
    // and such a computation must not overwrite a newer entry with a value already stale.
    const invalidated = new Set(tagKeys);
    for (const [key, flight] of this.inflight) {
      if (flight.tagKeys.some((t) => invalidated.has(t))) {
        flight.cancelled = true;
        this.inflight.delete(key);
      }
    }
    if (this.local === undefined) await this.maybeSyncClock();
    const time = this.clock();
    if (this.local !== undefined) {
      for (const t of tagKeys) this.local.writeTagTime(t, time, this.tagTtlMs);
    } else {
      const bytes = encodeAscii(String(time));
      await Promise.all(
        tagKeys.map((t) => this.guard('set', t, () => this.store.set(t, bytes, this.tagTtlMs), undefined, true)),
      );
      // The epoch moves only after every timestamp is written: a reader that sees the new
      // epoch finds the timestamps.
      await this.guard('set', this.epochKey, () => this.store.set(this.epochKey, encodeAscii(newEpoch()), this.tagTtlMs * 2), undefined, true);
    }
    this.emit({ type: 'invalidate', tags: tagKeys, store: this.name });
  }

  /**
   * Makes every entry under `prefix` stale (through `allTagKey`, which every entry carries), then
   * lets the store remove what it can (SCAN + UNLINK, generation bump, map sweep).
   */
  async clear(prefix: string, allTagKey: string): Promise<void> {
    for (const [key, flight] of this.inflight) {
      if (key.startsWith(prefix)) {
        flight.cancelled = true;
        this.inflight.delete(key);
      }
    }
    await this.guard('clear', prefix, () => this.store.clear(prefix), undefined, true);
    await this.invalidateTagKeys([allTagKey]);
    this.emit({ type: 'invalidate', prefix, store: this.name });
  }

  private compute<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>, epoch: string | undefined): Promise<T> {
    const existing = this.inflight.get(key) as Flight<T> | undefined;
    if (existing !== undefined) return existing.promise;
    this.emit({ type: 'miss', key, store: this.name, owner: policy.owner });
    const createdAt = this.clock();
    const run = (async () => factory())();
    const flight: Flight<T> = { promise: run, tagKeys: policy.tagKeys, cancelled: false };
    this.inflight.set(key, flight as Flight<unknown>);
    // The caller gets the value as soon as it exists; the write settles in the background while
    // the flight stays registered, so nobody recomputes in between. Failures are not cached.
    run
      .then((value) => (flight.cancelled ? undefined : this.write(key, value, createdAt, policy, epoch)))
      .catch(() => undefined)
      .finally(() => {
        if (this.inflight.get(key) === flight) this.inflight.delete(key);
      });
    return run;
  }

  private async write<T>(key: string, value: T, createdAt: number, policy: MemoizePolicy<T>, epoch: string | undefined): Promise<void> {
    if (this.local !== undefined) {
      this.writeLocal(this.local, key, value, createdAt, policy);
      return;
    }
    const env = this.envelope(key, value, createdAt, policy);
    if (env === undefined) return;
    if (epoch !== undefined) env.p = epoch;
    let bytes: Uint8Array;
    try {
      bytes = encodeEnvelope(env, this.serializer);
    } catch (error) {
      // Unserializable results are returned, not cached.
      this.emit({ type: 'error', key, store: this.name, owner: policy.owner, operation: 'encode', error });
      return;
    }
    if (await this.guard('set', key, () => this.store.set(key, bytes, env.s - createdAt).then(() => true), false)) {
      this.emit({ type: 'set', key, store: this.name, owner: policy.owner });
    }
  }

  private writeLocal<T>(local: LocalCacheStore, key: string, value: T, createdAt: number, policy: MemoizePolicy<T>): void {
    const env = this.envelope(key, value, createdAt, policy);
    if (env === undefined) return;
    local.put(key, env, env.s - createdAt);
    this.emit({ type: 'set', key, store: this.name, owner: policy.owner });
  }

  /** Builds the envelope; a throwing cacheIf/resultTags costs the cache write, never the result. */
  private envelope<T>(key: string, value: T, createdAt: number, policy: MemoizePolicy<T>): Envelope<T> | undefined {
    try {
      if (policy.cacheIf !== undefined && !policy.cacheIf(value)) return undefined;
      const lifetime = policy.ttlMs + (policy.graceMs ?? 0);
      this.registerLifetime(lifetime);
      const extra = policy.resultTagKeys?.(value);
      const tags = extra && extra.length > 0 ? [...new Set([...policy.tagKeys, ...extra])] : policy.tagKeys;
      return { v: value, c: createdAt, e: createdAt + policy.ttlMs, s: createdAt + lifetime, t: tags };
    } catch (error) {
      this.emit({ type: 'error', key, store: this.name, owner: policy.owner, operation: 'policy', error });
      return undefined;
    }
  }

  private isFreshLocal(env: Envelope, local: LocalCacheStore): boolean {
    return env.e > this.expiryNow() && this.isTagFresh(env, local);
  }

  private isTagFresh(env: Envelope, local: LocalCacheStore): boolean {
    // Fast path: no tag was written after this entry started, so none can invalidate it.
    if (env.c > local.lastTagTime) return true;
    for (const t of env.t) {
      const time = local.readTagTime(t);
      if (time !== undefined && time >= env.c) return false;
    }
    return true;
  }

  private async readRemote<T>(key: string): Promise<RemoteRead<T>> {
    if (!this.epochSeeded) await this.seedEpoch();
    else if (this.now() - this.clockSyncedAt >= 60_000) void this.maybeSyncClock();
    const [entry, epoch] = await Promise.all([this.guard('get', key, () => this.store.get(key), null), this.sharedEpoch()]);
    if (entry === null) return NO_READ;
    if (entry === undefined) return { env: undefined, epoch };
    let env: EncodedEnvelope;
    let tags: readonly string[] = [];
    try {
      env = decodeEnvelope(entry, this.serializer);
      if (env.e <= this.expiryNow()) return { env: undefined, epoch };
      // Unless nothing was invalidated since this entry was computed, check its tags.
      if (epoch === undefined || env.p !== epoch) tags = env.tags();
    } catch (error) {
      return this.unreadable(key, error, epoch);
    }
    if (tags.length > 0) {
      const times = await this.guard('getMany', key, () => this.store.getMany(tags), undefined);
      if (times === undefined) return { env: undefined, epoch }; // cannot prove freshness: a miss
      for (const bytes of times) {
        if (bytes !== undefined && decodeTime(bytes) + this.tolerance >= env.c) return { env: undefined, epoch };
      }
    }
    try {
      return { env: { v: env.value() as T }, epoch };
    } catch (error) {
      return this.unreadable(key, error, epoch);
    }
  }

  /** Garbage under a key is a miss, and the next write overwrites it. */
  private unreadable(key: string, error: unknown, epoch: string | undefined): RemoteRead<never> {
    this.emit({ type: 'error', key, store: this.name, operation: 'decode', error });
    return { env: undefined, epoch };
  }

  /**
   * One epoch read serves every call that starts before it is issued (at the end of the current
   * microtask queue), so a burst of hits costs about one read each, not two. Each joiner started
   * before the read was sent, so it still sees any invalidation that resolved before it started.
   */
  private sharedEpoch(): Promise<string | undefined> {
    if (this.epochBatch !== undefined) return this.epochBatch;
    const batch = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => {
      this.epochBatch = undefined;
      return this.readEpoch();
    });
    this.epochBatch = batch;
    return batch;
  }

  private async readEpoch(): Promise<string | undefined> {
    const raw = await this.guard('get', this.epochKey, () => this.store.get(this.epochKey), undefined);
    return raw === undefined ? undefined : decodeAscii(raw);
  }

  /** Local time corrected to the shared store's clock (for entries and tags of shared stores). */
  private clock(): number {
    return this.now() + this.clockOffset;
  }

  /** Measures the store's clock against ours (NTP-style midpoint), at most once a minute. */
  private async maybeSyncClock(): Promise<void> {
    const time = this.store.time?.bind(this.store);
    if (!this.syncClock || time === undefined || this.now() - this.clockSyncedAt < 60_000) return;
    this.clockSyncedAt = this.now();
    const before = this.now();
    const storeTime = await this.guard('time', '', () => time(), undefined);
    const after = this.now();
    if (storeTime !== undefined) this.clockOffset = storeTime - (before + after) / 2;
  }

  /** Makes sure the epoch exists, so entries can carry it (an absent epoch forces tag reads). */
  private async seedEpoch(): Promise<void> {
    await this.maybeSyncClock();
    if (this.epochSeeded) return;
    const seeded = await this.guard('add', this.epochKey, () => this.store.add(this.epochKey, encodeAscii(newEpoch()), this.tagTtlMs * 2).then(() => true), false);
    if (seeded) this.epochSeeded = true;
  }

  /** Expiry needs no sub-millisecond precision; Date.now() is the cheaper clock. */
  private expiryNow(): number {
    return this.now === preciseNow ? Date.now() : this.now();
  }

  private cancelFlight(key: string): void {
    const flight = this.inflight.get(key);
    if (flight !== undefined) {
      flight.cancelled = true;
      this.inflight.delete(key);
    }
  }

  private requireLocal(method: string): LocalCacheStore {
    if (this.local === undefined) {
      throw new Error(`Memoizer.${method}() needs an in-process store; store '${this.name}' is ${this.store.kind}.`);
    }
    return this.local;
  }

  /**
   * Runs a store operation through the circuit breaker with a time bound. On failure: reports,
   * and returns `fallback` (reads become misses, writes are dropped), unless `rethrow`
   * (invalidations must not pretend to have succeeded).
   */
  private async guard<R>(operation: string, key: string, run: () => Promise<R>, fallback: R, rethrow = false): Promise<R> {
    if (!this.breaker.allow()) {
      if (rethrow) throw new StoreFailureError(`store '${this.name}' is unavailable (circuit open): ${operation} ${key} was not applied.`);
      return fallback;
    }
    if (this.store.boundsOwnOperations === true) {
      // The store's client enforces its own command timeout: no per-operation timer needed.
      try {
        const result = await run();
        this.breaker.success();
        return result;
      } catch (error) {
        return this.failed(operation, key, error, fallback, rethrow);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${operation} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
          timer.unref?.();
        }),
      ]);
      this.breaker.success();
      return result;
    } catch (error) {
      return this.failed(operation, key, error, fallback, rethrow);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private failed<R>(operation: string, key: string, error: unknown, fallback: R, rethrow: boolean): R {
    this.breaker.failure(error);
    this.emit({ type: 'error', key, store: this.name, operation, error });
    if (rethrow) throw new StoreFailureError(`store '${this.name}' ${operation} failed for ${key}: ${errorMessage(error)}`, error);
    return fallback;
  }

  private emitHit(key: string, policy: { owner?: string }): void {
    if (this.listener !== undefined) this.emit({ type: 'hit', key, store: this.name, owner: policy.owner });
  }

  private emit(event: CacheEvent): void {
    if (this.listener !== undefined) {
      try {
        this.listener(event);
      } catch {
        // a listener must never break a call
      }
    }
  }
}

function newEpoch(): string {
  return `${Date.now().toString(36)}.${randomInt(2 ** 47).toString(36)}`;
}

/** An unreadable tag timestamp must not resurrect entries: it counts as "invalidated now". */
function decodeTime(bytes: Uint8Array): number {
  const time = Number(decodeAscii(bytes));
  return Number.isFinite(time) ? time : Number.POSITIVE_INFINITY;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
