import type { CacheStore, LocalCacheStore } from '../stores/cache-store.interface';
import { isLocalStore } from '../stores/cache-store.interface';
import type { MemoryStore } from '../stores/memory.store';
import { isTieredStore, type TieredStore } from '../stores/tiered.store';
import type { Serializer } from '../serialization/serializer.interface';
import { taggedJsonSerializer } from '../serialization/tagged-json.serializer';
import { CacheMemoizeTimeoutError } from '../errors';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker';
import { DistributedLock, type LockPolicy } from './distributed-lock';
import { isEnvelope, type Envelope } from './envelope';
import { encodeEnvelope } from './envelope-codec';
import { MISS, PendingRead, RemoteLookup } from './remote-lookup';
import type { CacheEvent, CacheEventListener } from './events';
import { encodeAscii, SharedState } from './shared-state';
import { StoreGuard } from './store-guard';
import type { Counters, StatsCollector } from './stats';

/** How one call is cached; built once per decorated method (plus per-call tags and etag). */
export interface MemoizePolicy<T = unknown> {
  /** Fresh lifetime, ms. */
  ttlMs: number;
  /** After ttl, how long a stale value may still be served while one caller refreshes it, ms. */
  graceMs?: number;
  /** Tag keys known before the call: namespace segments plus tags derived from the arguments. */
  tagKeys: readonly string[];
  /** Tag keys derived from the result (dependency keys), merged into the envelope's tags. */
  resultTagKeys?: (value: T) => readonly string[];
  /** Store the result only when this returns true. */
  cacheIf?: (value: T) => boolean;
  /** Identifies the caller in events and logs (e.g. 'UserService.getUser'). */
  owner?: string;
  /** Single-flight across processes through the store (shared stores only). */
  lock?: LockPolicy;
  /** With a stale value at hand, wait at most this long for the refresh before serving stale, ms. */
  softTimeoutMs?: number;
  /** Reject with CacheMemoizeTimeoutError after this long (the computation goes on and is stored), ms. */
  hardTimeoutMs?: number;
  /** Refresh in the background when a hit finds less than this much fresh time left, ms. */
  refreshAheadMs?: number;
  /** Validation token of this call: an entry written under another token is stale. */
  etag?: string;
  /** false: keep only a marker (the method runs at most once per ttl; hits return undefined). */
  storeResult?: boolean;
  /** This method's counters (hits, misses, stale, errors), incremented in place. */
  counters?: Counters;
  /** Told how this call was answered (the interceptor's X-Cache header). */
  report?: (state: 'fresh' | 'stale' | 'miss') => void;
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
  /** Counters kept for stats() and metrics. */
  stats?: StatsCollector;
  /** Emit hit events to the listener (off unless someone listens: a hit then allocates nothing). */
  hotEvents?: () => boolean;
  /** Wraps each computation (e.g. in a tracing span). */
  traceCompute?: <T>(key: string, owner: string | undefined, run: () => Promise<T>) => Promise<T>;
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
  /** The value exists (its write may still be under way). */
  resolved?: boolean;
}

export type Lookup<T> =
  | { state: 'fresh' | 'stale'; value: T; expiresAt: number; epoch: string | undefined }
  | { state: 'miss'; epoch: string | undefined };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());

/**
 * The engine (dogpile's region): look the key up, decide freshness from the envelope and the tag
 * timestamps, otherwise compute once per key per process (and, with `lock`, once across
 * processes) and store. Serves stale values within grace while one caller refreshes. A store
 * failure is a miss: the factory's result is always returned. Framework-free.
 */
export class Memoizer {
  readonly name: string;
  readonly store: CacheStore;
  readonly breaker: CircuitBreaker;
  private readonly local: LocalCacheStore | undefined;
  /** The shared store the remote path talks to (L2 of a tiered store). */
  private readonly remote: CacheStore;
  /** Tiered store: its in-process L1, read first and kept coherent by the bus. */
  private readonly tier: TieredStore | undefined;
  private readonly l1: MemoryStore | undefined;
  private readonly busChannel: string;
  private readonly serializer: Serializer;
  private readonly listener: CacheEventListener | undefined;
  private readonly now: () => number;
  private readonly guard: StoreGuard;
  private readonly shared: SharedState;
  private readonly lock: DistributedLock;
  private readonly tolerance: number;
  private readonly stats: StatsCollector | undefined;
  private readonly storeCounters: Counters | undefined;
  private readonly hotEvents: () => boolean;
  private readonly traceCompute: MemoizerOptions['traceCompute'];
  private tagTtlMs: number;
  private readonly inflight = new Map<string, Flight<unknown>>();
  /** Remote lookups under way: concurrent callers of one key share one read (and its outcome). */
  private readonly reads = new Map<string, PendingRead>();
  /** Lookups in the shared store, batched per microtask. */
  private readonly remoteLookup: RemoteLookup;
  /** Keys whose background refresh failed: no retry before `until` (grace keeps serving stale). */
  private readonly backoff = new Map<string, { until: number; delayMs: number }>();

  constructor(store: CacheStore, options: MemoizerOptions = {}) {
    this.store = store;
    this.local = isLocalStore(store) ? store : undefined;
    this.tier = isTieredStore(store) ? store : undefined;
    this.l1 = this.tier?.l1;
    this.remote = this.tier?.l2 ?? store;
    this.name = options.name ?? store.kind;
    this.serializer = options.serializer ?? taggedJsonSerializer;
    this.tagTtlMs = options.tagTtlMs ?? 86_400_000;
    this.listener = options.listener;
    this.now = options.now ?? preciseNow;
    this.tolerance = options.clockTolerance ?? 50;
    this.stats = options.stats;
    this.storeCounters = options.stats?.forStore(this.name);
    this.hotEvents = options.hotEvents ?? (() => true);
    this.traceCompute = options.traceCompute;
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
    this.guard = new StoreGuard(this.remote, this.name, options.operationTimeoutMs ?? 1_000, this.breaker, (e) => this.emit(e));
    const epochKey = `${options.prefix ?? 'cm'}:~epoch`;
    this.shared = new SharedState(this.remote, this.guard, epochKey, this.now, options.syncClock ?? true, () => this.tagTtlMs * 2);
    this.lock = new DistributedLock(this.remote, this.guard);
    this.remoteLookup = new RemoteLookup({
      remote: this.remote,
      guard: this.guard,
      shared: this.shared,
      serializer: this.serializer,
      tolerance: this.tolerance,
      expiryNow: () => this.expiryNow(),
      unreadable: (key, error, epoch) => this.unreadable(key, error, epoch),
      fillL1: this.l1 === undefined ? undefined : (key, env) => this.fillL1(key, env),
      settle: (read, lookup) => this.settleRead(read, lookup),
      fail: (read, error) => this.failRead(read, error),
    });
    this.busChannel = `${options.prefix ?? 'cm'}:~bus`;
    this.tier?.listen(this.busChannel, (message) => {
      // Another instance wrote or invalidated: drop what our L1 may hold of it.
      const l1 = this.l1!;
      for (const key of message.keys ?? []) l1.remove(key);
      if (message.tags !== undefined) {
        const time = this.shared.clock();
        for (const t of message.tags) l1.writeTagTime(t, time, this.tagTtlMs);
      }
      if (message.clear !== undefined) void l1.clear(message.clear);
    });
  }

  get isLocal(): boolean {
    return this.local !== undefined;
  }

  /** Whether a computation for the key is under way in this process (its value not yet known). */
  isComputing(key: string): boolean {
    const flight = this.inflight.get(key);
    return flight !== undefined && flight.resolved !== true;
  }

  /** Keeps tag timestamps alive at least as long as any entry they may invalidate. */
  registerLifetime(ms: number): void {
    if (ms > this.tagTtlMs) this.tagTtlMs = ms;
  }

  // Not `async`: returning a promise from an async function costs extra ticks on every hit.
  getOrSet<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>): Promise<T> {
    const near = this.local ?? this.l1;
    if (near !== undefined) {
      // Hot path: one Map lookup and a few comparisons for a fresh in-process hit (memory store,
      // or a tiered store's L1).
      const now = this.expiryNow();
      const env = near.peek(key, now) as Envelope<T> | undefined;
      if (env !== undefined && env.e > now && this.isTagFresh(env, near) && env.g === policy.etag) {
        this.onHit(key, policy);
        if (policy.refreshAheadMs !== undefined && env.e - now < policy.refreshAheadMs) this.refreshInBackground(key, factory, policy, undefined);
        return Promise.resolve(env.v);
      }
      if (this.local !== undefined) return this.withHardTimeout(this.resolve(key, factory, policy, this.lookupLocal(env, policy, now)), policy, key);
    }
    const existing = this.inflight.get(key) as Flight<T> | undefined;
    if (existing !== undefined) return this.withHardTimeout(existing.promise, policy, key);
    const read = this.reads.get(key);
    if (read !== undefined && read.policy.etag === policy.etag) return this.withHardTimeout(read.promise as Promise<T>, policy, key);
    const pending = new PendingRead(key, policy as MemoizePolicy<never>, factory);
    this.reads.set(key, pending);
    this.remoteLookup.add(pending);
    return this.withHardTimeout(pending.promise as Promise<T>, policy, key);
  }

  /**
   * Synchronous variant for local stores, so a sync method stays sync. Grace serves the stale
   * value and recomputes right after (in a microtask). No single-flight is needed.
   */
  getOrSetSync<T>(key: string, factory: () => T, policy: MemoizePolicy<T>): T {
    const local = this.requireLocal();
    const now = this.expiryNow();
    const lookup = this.lookupLocal(local.peek(key, now) as Envelope<T> | undefined, policy, now);
    if (lookup.state === 'fresh') {
      this.onHit(key, policy);
      return lookup.value;
    }
    policy.report?.(lookup.state);
    if (lookup.state === 'stale') {
      this.count(policy, 2);
      this.emit({ type: 'stale', key, store: this.name, owner: policy.owner });
      if (!this.inflight.has(key) && !this.backingOff(key)) {
        const flight: Flight<T> = { promise: Promise.resolve(lookup.value), tagKeys: policy.tagKeys, cancelled: false };
        this.inflight.set(key, flight as Flight<unknown>);
        queueMicrotask(() => {
          const createdAt = this.now();
          try {
            const value = factory();
            if (!flight.cancelled) this.writeLocal(local, key, value, createdAt, policy);
            this.backoff.delete(key);
          } catch {
            this.failedRefresh(key);
          } finally {
            if (this.inflight.get(key) === flight) this.inflight.delete(key);
          }
        });
      }
      return lookup.value;
    }
    this.count(policy, 1);
    this.emit({ type: 'miss', key, store: this.name, owner: policy.owner });
    const createdAt = this.now();
    const value = factory();
    this.writeLocal(local, key, value, createdAt, policy);
    return value;
  }

  /** The fresh cached value, if any, without computing. */
  async peek<T>(key: string, policy: Pick<MemoizePolicy, 'etag'> = {}): Promise<{ v: T } | undefined> {
    const { lookup } = await this.inspect<T>(key, policy);
    return lookup.state === 'fresh' ? { v: lookup.value } : undefined;
  }

  /** What a call with this key would find, without computing (debugging: method handles' explain). */
  async explain(key: string, policy: Pick<MemoizePolicy, 'etag'> = {}): Promise<{ state: 'fresh' | 'stale' | 'miss'; expiresAt?: number; source?: 'l1' | 'store' }> {
    const { lookup, source } = await this.inspect(key, policy);
    return lookup.state === 'miss' ? { state: 'miss' } : { state: lookup.state, expiresAt: lookup.expiresAt, source };
  }

  /** Looks a key up as a call would (in-process store or L1 first, then the shared store), never computing. */
  private async inspect<T>(key: string, policy: Pick<MemoizePolicy, 'etag'>): Promise<{ lookup: Lookup<T>; source: 'l1' | 'store' }> {
    const near = this.local ?? this.l1;
    if (near !== undefined) {
      const now = this.expiryNow();
      const lookup = this.lookupLocalIn(near, near.peek(key, now) as Envelope<T> | undefined, policy, now);
      if (this.local !== undefined) return { lookup, source: 'store' };
      // As in getOrSet: only a fresh L1 entry answers; anything else goes to the shared store.
      if (lookup.state === 'fresh') return { lookup, source: 'l1' };
    }
    return { lookup: await this.lookupRemote<T>(key, policy), source: 'store' };
  }

  /** Computes and stores unconditionally (refresh). */
  async refresh<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>): Promise<T> {
    this.cancelFlight(key);
    this.reads.delete(key);
    let epoch: string | undefined;
    if (this.local === undefined) {
      await this.shared.prepare();
      epoch = await this.shared.readEpoch();
    }
    return this.compute(key, factory, policy, epoch);
  }

  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      this.cancelFlight(key);
      this.reads.delete(key);
    }
    if (this.local !== undefined) {
      for (const key of keys) this.local.remove(key);
    } else if (keys.length > 0) {
      for (const key of keys) this.l1?.remove(key);
      await this.guard.run('deleteMany', keys[0], () => this.remote.deleteMany(keys), 0, true);
      await this.publish({ keys });
    }
    this.emit({ type: 'invalidate', keys, store: this.name });
  }

  /** Bentocache-style: write `now` under each tag key; entries created at or before it are stale. */
  async invalidateTagKeys(tagKeys: readonly string[]): Promise<void> {
    // Callers starting after this resolves must not join a computation that started before it,
    // and such a computation must not overwrite a newer entry with a value already stale.
    const invalidated = new Set(tagKeys);
    this.reads.clear(); // reads under way may predate this invalidation: later callers start anew
    this.cancelFlights((_key, flight) => flight.tagKeys.some((t) => invalidated.has(t)));
    if (this.local !== undefined) {
      const time = this.now();
      for (const t of tagKeys) this.local.writeTagTime(t, time, this.tagTtlMs);
    } else {
      await this.shared.syncClockNow();
      const bytes = encodeAscii(String(this.shared.clock()));
      await Promise.all(tagKeys.map((t) => this.guard.run('set', t, () => this.remote.set(t, bytes, this.tagTtlMs), undefined, true)));
      await this.shared.bumpEpoch();
      if (this.l1 !== undefined) {
        const time = this.shared.clock();
        for (const t of tagKeys) this.l1.writeTagTime(t, time, this.tagTtlMs);
        await this.publish({ tags: tagKeys });
      }
    }
    this.emit({ type: 'invalidate', tags: tagKeys, store: this.name });
  }

  /**
   * Makes every entry under `prefix` stale (through `allTagKey`, which every entry carries), then
   * lets the store remove what it can (SCAN + UNLINK, generation bump, map sweep).
   */
  async clear(prefix: string, allTagKey: string): Promise<void> {
    this.reads.clear();
    this.cancelFlights((key) => key.startsWith(prefix));
    await this.guard.run('clear', prefix, () => this.remote.clear(prefix), undefined, true);
    if (this.l1 !== undefined) {
      await this.l1.clear(prefix);
      await this.publish({ clear: prefix });
    }
    await this.invalidateTagKeys([allTagKey]);
    this.emit({ type: 'invalidate', prefix, store: this.name });
  }

  /** Acts on a lookup that was not a plain fresh hit. */
  private resolve<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>, lookup: Lookup<T>): Promise<T> {
    if (lookup.state === 'fresh') {
      this.onHit(key, policy);
      if (policy.refreshAheadMs !== undefined && lookup.expiresAt - this.expiryNow() < policy.refreshAheadMs) {
        this.refreshInBackground(key, factory, policy, lookup.epoch);
      }
      return Promise.resolve(lookup.value);
    }
    policy.report?.(lookup.state);
    if (lookup.state === 'stale') {
      this.count(policy, 2);
      this.emit({ type: 'stale', key, store: this.name, owner: policy.owner });
      const refreshing = this.refreshInBackground(key, factory, policy, lookup.epoch);
      const soft = policy.softTimeoutMs ?? 0;
      if (refreshing === undefined || soft <= 0) return Promise.resolve(lookup.value);
      // Wait a little for the fresh value; past the soft timeout (or on failure) serve stale.
      return Promise.race([refreshing.catch(() => lookup.value), sleep(soft).then(() => lookup.value)]);
    }
    return this.compute(key, factory, policy, lookup.epoch);
  }

  /** Starts one refresh for the key unless one runs or a failed one is backing off. */
  private refreshInBackground<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>, epoch: string | undefined): Promise<T> | undefined {
    const existing = this.inflight.get(key) as Flight<T> | undefined;
    if (existing !== undefined) return existing.promise;
    if (this.backingOff(key)) return undefined;
    const run = this.compute(key, factory, policy, epoch);
    run.then(
      () => this.backoff.delete(key),
      () => this.failedRefresh(key),
    );
    return run;
  }

  private backingOff(key: string): boolean {
    const b = this.backoff.get(key);
    return b !== undefined && this.expiryNow() < b.until;
  }

  private failedRefresh(key: string): void {
    const delayMs = Math.min((this.backoff.get(key)?.delayMs ?? 500) * 2, 30_000);
    if (this.backoff.size > 10_000) this.backoff.clear(); // bounded: forgetting only retries sooner
    this.backoff.set(key, { until: this.expiryNow() + delayMs, delayMs });
  }

  private compute<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>, epoch: string | undefined): Promise<T> {
    const existing = this.inflight.get(key) as Flight<T> | undefined;
    if (existing !== undefined) return existing.promise;
    this.count(policy, 1);
    this.emit({ type: 'miss', key, store: this.name, owner: policy.owner });
    {
      // Misses only (never on the hit path): time the computation for metrics, and trace it.
      const inner = factory;
      const trace = this.traceCompute;
      factory = async () => {
        const started = performance.now();
        let ok = false;
        try {
          const value = trace === undefined ? await inner() : await trace(key, policy.owner, async () => inner());
          ok = true;
          return value;
        } finally {
          this.emit({ type: 'computed', key, store: this.name, owner: policy.owner, durationMs: performance.now() - started, ok });
        }
      };
    }
    const flight: Flight<T> = { promise: undefined as unknown as Promise<T>, tagKeys: policy.tagKeys, cancelled: false };
    if (policy.lock !== undefined && this.local === undefined) {
      flight.promise = this.computeLocked(key, factory, policy, epoch, policy.lock, flight);
      flight.promise.then(
        () => this.settle(key, flight),
        () => this.settle(key, flight),
      );
    } else {
      const createdAt = this.local === undefined ? this.shared.clock() : this.now();
      flight.promise = (async () => factory())();
      // A failure leaves the registry before any caller's handler runs, so a retry right after
      // the rejection starts afresh. A value is returned at once while the write settles in the
      // background with the flight still registered, so nobody recomputes in between.
      flight.promise.then(
        (value) => {
          flight.resolved = true;
          const written = flight.cancelled ? undefined : this.write(key, value, createdAt, policy, epoch);
          void Promise.resolve(written)
            .catch(() => undefined)
            .finally(() => this.settle(key, flight));
        },
        () => this.settle(key, flight),
      );
    }
    this.inflight.set(key, flight as Flight<unknown>);
    return flight.promise;
  }

  /**
   * One computation across processes: the lock holder computes and writes before releasing;
   * the others poll the store for its value, take over if the lock expires (holder died), and
   * after `waitMs` compute themselves rather than wait longer.
   */
  private async computeLocked<T>(key: string, factory: () => Promise<T> | T, policy: MemoizePolicy<T>, epoch: string | undefined, lock: LockPolicy, flight: Flight<T>): Promise<T> {
    const lockKey = `${key}:~lock`;
    const deadline = this.expiryNow() + lock.waitMs;
    let delay = 5;
    let waited = false;
    for (;;) {
      const attempt = await this.lock.acquire(lockKey, lock.ttlMs);
      if (attempt.state !== 'busy' || this.expiryNow() >= deadline) {
        const outcome = attempt.state === 'busy' ? 'timeout' : waited ? 'waited' : 'acquired';
        this.emit({ type: 'lock', key, store: this.name, owner: policy.owner, outcome });
        const createdAt = this.shared.clock();
        try {
          const value = await factory();
          if (!flight.cancelled) await this.write(key, value, createdAt, policy, epoch);
          return value;
        } finally {
          if (attempt.state === 'held') await this.lock.release(lockKey, attempt.token);
        }
      }
      waited = true;
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
      const lookup = await this.lookupRemote<T>(key, policy);
      if (lookup.state === 'fresh') {
        this.emit({ type: 'lock', key, store: this.name, owner: policy.owner, outcome: 'waited' });
        return lookup.value;
      }
      epoch = lookup.epoch;
    }
  }

  private settle(key: string, flight: Flight<unknown>): void {
    if (this.inflight.get(key) === flight) this.inflight.delete(key);
  }

  private withHardTimeout<T>(promise: Promise<T>, policy: MemoizePolicy<T>, key: string): Promise<T> {
    const hard = policy.hardTimeoutMs;
    if (hard === undefined) return promise;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new CacheMemoizeTimeoutError(`${policy.owner ?? key} did not finish within its hard timeout of ${hard} ms; it goes on in the background and its result will be cached.`));
      }, hard);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
      // A value that would not come back as it went in is returned, not cached.
      this.emit({ type: 'uncacheable', key, store: this.name, owner: policy.owner, error });
      return;
    }
    if (await this.guard.run('set', key, () => this.remote.set(key, bytes, env.s - createdAt).then(() => true), false, false, policy.owner)) {
      this.emit({ type: 'set', key, store: this.name, owner: policy.owner });
      if (this.l1 !== undefined) {
        this.fillL1(key, env);
        await this.publish({ keys: [key] }); // other instances drop their older copy
      }
    }
  }

  private writeLocal<T>(local: LocalCacheStore, key: string, value: T, createdAt: number, policy: MemoizePolicy<T>): void {
    const env = this.envelope(key, value, createdAt, policy);
    if (env === undefined) return;
    const now = this.expiryNow();
    local.put(key, env, env.s - now, now);
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
      const stored = (policy.storeResult === false ? undefined : value) as T;
      const env: Envelope<T> = { v: stored, c: createdAt, e: createdAt + policy.ttlMs, s: createdAt + lifetime, t: tags };
      if (policy.etag !== undefined) env.g = policy.etag;
      return env;
    } catch (error) {
      this.emit({ type: 'error', key, store: this.name, owner: policy.owner, operation: 'policy', error });
      return undefined;
    }
  }

  private lookupLocal<T>(env: Envelope<T> | undefined, policy: Pick<MemoizePolicy, 'etag'>, now: number): Lookup<T> {
    return this.lookupLocalIn(this.local!, env, policy, now);
  }

  private lookupLocalIn<T>(local: LocalCacheStore, env: Envelope<T> | undefined, policy: Pick<MemoizePolicy, 'etag'>, now: number): Lookup<T> {
    // (Anything else under the key, e.g. bytes written through the store's own API, is a miss.)
    if (env === undefined || !isEnvelope(env) || env.g !== policy.etag || !this.isTagFresh(env, local)) return MISS;
    if (env.e > now) return { state: 'fresh', value: env.v, expiresAt: env.e, epoch: undefined };
    if (env.s > now) return { state: 'stale', value: env.v, expiresAt: env.e, epoch: undefined };
    return MISS;
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

  /** Looks the key up in the shared store (joining the current batch), without computing. */
  private lookupRemote<T>(key: string, policy: Pick<MemoizePolicy, 'etag' | 'owner'>): Promise<Lookup<T>> {
    const pending = new PendingRead(key, policy as MemoizePolicy<never>, undefined);
    this.remoteLookup.add(pending);
    return pending.promise as Promise<Lookup<T>>;
  }

  /** Hands a read its outcome: a fresh hit's value at once, anything else through resolve(). */
  private settleRead(read: PendingRead, lookup: Lookup<unknown>): void {
    const { key, policy, factory } = read;
    if (factory === undefined) return read.resolve(lookup);
    if (lookup.state === 'fresh' && policy.refreshAheadMs === undefined) {
      this.dropRead(read);
      this.onHit(key, policy);
      return read.resolve(lookup.value);
    }
    const resolved = this.resolve(key, factory, policy as MemoizePolicy<unknown>, lookup);
    const done = () => this.dropRead(read);
    resolved.then(done, done);
    read.resolve(resolved);
  }

  private failRead(read: PendingRead, error: unknown): void {
    this.dropRead(read);
    read.reject(error);
  }

  private dropRead(read: PendingRead): void {
    if (this.reads.get(read.key) === read) this.reads.delete(read.key);
  }

  private fillL1(key: string, env: Envelope): void {
    const now = this.expiryNow();
    if (env.s <= now) return;
    this.l1!.put(key, env, this.tier!.l1Lifetime(env.s - now), now);
  }

  /** Bus messages are best effort: a failed publish is covered by L1's bounded lifetime. */
  private async publish(message: { keys?: readonly string[]; tags?: readonly string[]; clear?: string }): Promise<void> {
    if (this.tier === undefined) return;
    await this.guard.run('publish', this.busChannel, () => this.tier!.publish(this.busChannel, message), undefined);
  }

  /** Garbage under a key is a miss, and the next write overwrites it. */
  private unreadable(key: string, error: unknown, epoch: string | undefined): Lookup<never> {
    this.emit({ type: 'error', key, store: this.name, operation: 'decode', error });
    return { state: 'miss', epoch };
  }

  /** Expiry needs no sub-millisecond precision; Date.now() is the cheaper clock. */
  private expiryNow(): number {
    return this.now === preciseNow ? Date.now() : this.now();
  }

  private cancelFlight(key: string): void {
    const flight = this.inflight.get(key);
    if (flight !== undefined) this.detach(key, flight);
  }

  /** Detaches the computations that match: nobody joins them, and their results are not stored. */
  private cancelFlights(match: (key: string, flight: Flight<unknown>) => boolean): void {
    for (const [key, flight] of this.inflight) if (match(key, flight)) this.detach(key, flight);
  }

  private detach(key: string, flight: Flight<unknown>): void {
    flight.cancelled = true;
    this.inflight.delete(key);
  }

  private requireLocal(): LocalCacheStore {
    if (this.local === undefined) throw new Error(`store '${this.name}' (${this.store.kind}) cannot answer synchronously.`);
    return this.local;
  }

  private count(policy: Pick<MemoizePolicy, 'owner' | 'counters'>, index: 0 | 1 | 2 | 3 | 4): void {
    if (this.storeCounters === undefined) return;
    this.storeCounters[index]++;
    (policy.counters ?? this.stats!.forOwner(policy.owner))[index]++;
  }

  private onHit(key: string, policy: Pick<MemoizePolicy, 'owner' | 'report' | 'counters'>): void {
    this.count(policy, 0);
    policy.report?.('fresh');
    if (this.listener !== undefined && this.hotEvents()) this.listener({ type: 'hit', key, store: this.name, owner: policy.owner });
  }

  private emit(event: CacheEvent): void {
    if (event.type === 'error') this.count({ owner: event.owner }, 3);
    else if (event.type === 'uncacheable') this.count({ owner: event.owner }, 4);
    if (this.listener === undefined) return;
    try {
      this.listener(event);
    } catch {
      // a listener must never break a call
    }
  }
}
