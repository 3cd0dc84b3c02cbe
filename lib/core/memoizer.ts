import type { CacheStore, LocalCacheStore } from '../stores/cache-store.interface';
import { isLocalStore } from '../stores/cache-store.interface';
import type { Serializer } from '../serialization/serializer.interface';
import { v8Serializer } from '../serialization/v8.serializer';
import { type Envelope, isEnvelope } from './envelope';
import type { CacheEventListener } from './events';

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
  /** Opaque shape marker kept in the envelope (see Envelope.m). */
  shape?: string;
  /** Identifies the caller in events and logs (e.g. 'UserService.getUser'). */
  owner?: string;
}

export interface MemoizerOptions {
  /** Name used in events and logs. */
  name?: string;
  serializer?: Serializer;
  /** Upper bound on one store operation, ms: a slow store costs a call no more than this. */
  operationTimeoutMs?: number;
  /** Minimum lifetime of tag timestamps; raised to the longest entry lifetime seen. */
  tagTtlMs?: number;
  listener?: CacheEventListener;
  now?: () => number;
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

/**
 * The engine (dogpile's region): read envelope, decide freshness from it and from tag
 * timestamps, otherwise compute once per key per process and store. Framework-free.
 * A store failure is a miss: the factory's result is always returned.
 */
export class Memoizer {
  readonly name: string;
  readonly store: CacheStore;
  private readonly local: LocalCacheStore | undefined;
  private readonly serializer: Serializer;
  private readonly timeoutMs: number;
  private readonly listener: CacheEventListener | undefined;
  private readonly now: () => number;
  private tagTtlMs: number;
  private readonly inflight = new Map<string, Flight<unknown>>();

  constructor(store: CacheStore, options: MemoizerOptions = {}) {
    this.store = store;
    this.local = isLocalStore(store) ? store : undefined;
    this.name = options.name ?? store.kind;
    this.serializer = options.serializer ?? v8Serializer;
    this.timeoutMs = options.operationTimeoutMs ?? 1_000;
    this.tagTtlMs = options.tagTtlMs ?? 86_400_000;
    this.listener = options.listener;
    this.now = options.now ?? preciseNow;
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
    } else {
      const env = await this.readRemote<T>(key, policy);
      if (env !== undefined) {
        this.emitHit(key, policy);
        return env.v;
      }
    }
    return this.compute(key, factory, policy);
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

  /**
   * Returns the cached envelope if it is fresh, without computing (method handles' `peek`).
   * For local stores this is synchronous under the hood.
   */
  async peek<T>(key: string, tagKeys: readonly string[] = []): Promise<Envelope<T> | undefined> {
    if (this.local !== undefined) {
      const env = this.local.peek(key) as Envelope<T> | undefined;
      return env !== undefined && this.isFreshLocal(env, this.local) ? env : undefined;
    }
    return this.readRemote<T>(key, { ttlMs: 0, tagKeys });
  }

  /** Synchronous peek for local stores (used by sync wrappers and the shape detection). */
  peekLocal<T>(key: string): Envelope<T> | undefined {
    const local = this.requireLocal('peekLocal');
    const env = local.peek(key) as Envelope<T> | undefined;
    return env !== undefined && this.isFreshLocal(env, local) ? env : undefined;
  }

  /** Computes and stores unconditionally (refresh). */
  async refresh<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>): Promise<T> {
    this.cancelFlight(key);
    return this.compute(key, factory, policy);
  }

  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.cancelFlight(key);
    if (this.local !== undefined) {
      for (const key of keys) this.local.remove(key);
      this.emit({ type: 'invalidate', keys, store: this.name });
      return;
    }
    await this.guard('deleteMany', keys[0] ?? '', () => this.store.deleteMany(keys), 0, true);
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
    const time = this.now();
    if (this.local !== undefined) {
      for (const t of tagKeys) this.local.writeTagTime(t, time, this.tagTtlMs);
    } else {
      const bytes = this.serializer.encode(time);
      await Promise.all(
        tagKeys.map((t) => this.guard('set', t, () => this.store.set(t, bytes, this.tagTtlMs), undefined, true)),
      );
    }
    this.emit({ type: 'invalidate', tags: tagKeys, store: this.name });
  }

  async clear(prefix: string): Promise<void> {
    for (const [key, flight] of this.inflight) {
      if (key.startsWith(prefix)) {
        flight.cancelled = true;
        this.inflight.delete(key);
      }
    }
    await this.guard('clear', prefix, () => this.store.clear(prefix), undefined, true);
    this.emit({ type: 'invalidate', prefix, store: this.name });
  }

  private compute<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>): Promise<T> {
    const existing = this.inflight.get(key) as Flight<T> | undefined;
    if (existing !== undefined) return existing.promise;
    this.emit({ type: 'miss', key, store: this.name, owner: policy.owner });
    const createdAt = this.now();
    const run = (async () => factory())();
    const flight: Flight<T> = { promise: run, tagKeys: policy.tagKeys, cancelled: false };
    this.inflight.set(key, flight as Flight<unknown>);
    // The caller gets the value as soon as it exists; the write settles in the background while
    // the flight stays registered, so nobody recomputes in between. Failures are not cached.
    run
      .then((value) => (flight.cancelled ? undefined : this.write(key, value, createdAt, policy)))
      .catch(() => undefined)
      .finally(() => {
        if (this.inflight.get(key) === flight) this.inflight.delete(key);
      });
    return run;
  }

  private async write<T>(key: string, value: T, createdAt: number, policy: MemoizePolicy<T>): Promise<void> {
    if (this.local !== undefined) {
      this.writeLocal(this.local, key, value, createdAt, policy);
      return;
    }
    let env: Envelope<T> | undefined;
    try {
      env = this.envelope(value, createdAt, policy);
    } catch (error) {
      // A throwing cacheIf/tags callback costs the cache write, never the caller's result.
      this.emit({ type: 'error', key, store: this.name, owner: policy.owner, operation: 'policy', error });
      return;
    }
    if (env === undefined) return;
    let bytes: Uint8Array;
    try {
      bytes = this.serializer.encode(env);
    } catch (error) {
      // Unserializable results are returned, not cached.
      this.emit({ type: 'error', key, store: this.name, owner: policy.owner, operation: 'encode', error });
      return;
    }
    const stored = env;
    await this.guard('set', key, () => this.store.set(key, bytes, stored.s - createdAt), undefined);
    this.emit({ type: 'set', key, store: this.name, owner: policy.owner });
  }

  private writeLocal<T>(local: LocalCacheStore, key: string, value: T, createdAt: number, policy: MemoizePolicy<T>): void {
    let env: Envelope<T> | undefined;
    try {
      env = this.envelope(value, createdAt, policy);
    } catch (error) {
      this.emit({ type: 'error', key, store: this.name, owner: policy.owner, operation: 'policy', error });
      return;
    }
    if (env === undefined) return;
    local.put(key, env, env.s - createdAt);
    this.emit({ type: 'set', key, store: this.name, owner: policy.owner });
  }

  private envelope<T>(value: T, createdAt: number, policy: MemoizePolicy<T>): Envelope<T> | undefined {
    if (policy.cacheIf !== undefined && !policy.cacheIf(value)) return undefined;
    const grace = policy.graceMs ?? 0;
    const lifetime = policy.ttlMs + grace;
    this.registerLifetime(lifetime);
    const extra = policy.resultTagKeys?.(value);
    const tags = extra && extra.length > 0 ? [...new Set([...policy.tagKeys, ...extra])] : policy.tagKeys;
    const env: Envelope<T> = { v: value, c: createdAt, e: createdAt + policy.ttlMs, s: createdAt + lifetime, t: tags };
    if (policy.shape !== undefined) env.m = policy.shape;
    return env;
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

  private async readRemote<T>(key: string, policy: MemoizePolicy<T>): Promise<Envelope<T> | undefined> {
    // One round trip for the entry and the tags known from the arguments.
    const keys = policy.tagKeys.length > 0 ? [key, ...policy.tagKeys] : [key];
    const raw = await this.guard('getMany', key, () => this.store.getMany(keys), undefined);
    if (raw === undefined || raw[0] === undefined) return undefined;
    const env = this.decode(key, raw[0]);
    if (env === undefined || env.e <= this.expiryNow()) return undefined;
    const times = new Map<string, number | undefined>();
    policy.tagKeys.forEach((t, i) => times.set(t, this.decodeTime(raw[i + 1])));
    const unknown = env.t.filter((t) => !times.has(t));
    if (unknown.length > 0) {
      const more = await this.guard('getMany', key, () => this.store.getMany(unknown), undefined);
      if (more === undefined) return undefined; // cannot prove freshness: treat as a miss
      unknown.forEach((t, i) => times.set(t, this.decodeTime(more[i])));
    }
    for (const t of env.t) {
      const time = times.get(t);
      if (time !== undefined && time >= env.c) return undefined;
    }
    return env as Envelope<T>;
  }

  private decode(key: string, bytes: Uint8Array): Envelope | undefined {
    try {
      const value = this.serializer.decode(bytes);
      if (isEnvelope(value)) return value;
    } catch {
      // fall through: garbage is a miss, and the next write overwrites it
    }
    this.emit({ type: 'error', key, store: this.name, operation: 'decode', error: new Error('unreadable entry') });
    return undefined;
  }

  private decodeTime(bytes: Uint8Array | undefined): number | undefined {
    if (bytes === undefined) return undefined;
    try {
      const time = this.serializer.decode(bytes);
      // An unreadable tag timestamp must not resurrect entries: treat it as "invalidated now".
      return typeof time === 'number' ? time : Number.POSITIVE_INFINITY;
    } catch {
      return Number.POSITIVE_INFINITY;
    }
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
   * Runs a store operation with a time bound. On failure: reports, and returns `fallback`
   * (reads become misses, writes are dropped), unless `rethrow` (invalidations must not
   * pretend to have succeeded).
   */
  private async guard<R>(operation: string, key: string, run: () => Promise<R>, fallback: R, rethrow = false): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${operation} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
          timer.unref?.();
        }),
      ]);
    } catch (error) {
      this.emit({ type: 'error', key, store: this.name, operation, error });
      if (rethrow) throw error;
      return fallback;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private emitHit(key: string, policy: { owner?: string }): void {
    if (this.listener !== undefined) this.listener({ type: 'hit', key, store: this.name, owner: policy.owner });
  }

  private emit(event: Parameters<CacheEventListener>[0]): void {
    if (this.listener !== undefined) {
      try {
        this.listener(event);
      } catch {
        // a listener must never break a call
      }
    }
  }
}
