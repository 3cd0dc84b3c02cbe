import type { CachePolicy, CallScope, Inspection } from '../types/policy';
import type { LocalCacheStore } from '../types/store';
import type { EngineContext } from './context';
import { FactoryControl } from './factory-control';
import { runFactory, staleOrSoon, withHardTimeout } from './factory-runner';
import { Flights, joined, reentrant, refreshed } from './flights';
import { expireEntry, findRow, freshRow, inspectEntry, LocalFlight, localVersions } from './local-entry';
import { type LocalEntry, readEntry, servableKept, signedTags } from './local-entry';
import { joinCheck } from './entry-plan';
import { joinable, storeComputed } from './local-write';
import { LocalMeta, type LocalVersions } from './local-versions';
import { servingStaleOnError } from './read-guards';
import { computingSync, inBackground } from './reentry';
import { refreshedInline } from './revalidation';
import type { Factory, PutOutcome, Topology } from './topology';

/**
 * The memory store: invalidations apply synchronously — they detach computations under way here and
 * move the versions entries and other apps' computations on the store are checked against. Grace
 * serves the stale value at once while one refresh runs.
 */
export class LocalTopology implements Topology {
  readonly local = true;
  readonly versions: LocalVersions;
  readonly flights = new Flights();
  /** Write-throughs under way (`put`): an invalidation of their key, or a newer one, detaches them. */
  private readonly writes = new Flights();

  constructor(
    private readonly ctx: EngineContext,
    private readonly store: LocalCacheStore,
  ) {
    this.versions = localVersions(store);
  }

  /** In-process versions need no lifetime. */
  registerLifetime(): void {}

  // Not `async`: returning a promise from an async function costs extra ticks on every hit.
  getOrSet<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope, space?: string, rest?: string) {
    const now = this.ctx.expiryNow();
    const { store } = this;
    const row = findRow(store, key, now, space, rest);
    if (freshRow(store, this.versions, row, now, scope)) {
      const value = store.valueAt(row) as T; // read before anything can write to the store
      if (policy.refreshAheadMs !== undefined && store.freshUntilOf(row) - now < policy.refreshAheadMs) {
        // A handler refreshes by running its request: failing or overdue, it gets the value it read.
        if (scope?.refreshInline !== true) void this.refreshInBackground(key, factory, policy, scope);
        else if (this.flights.get(key) === undefined && !this.ctx.revalidation.backingOff(key, now))
          return this.inline(key, factory, policy, scope, { value });
      }
      this.ctx.hit(key, policy, scope);
      return Promise.resolve(value);
    }
    const entry = readEntry(store, row, LocalMeta);
    const call = this.bounded(this.slow(key, factory, policy, scope, entry, now), policy, key);
    const keep = policy.staleIfErrorMs;
    if (
      keep === undefined ||
      entry === undefined ||
      entry.staleUntil > now ||
      entry.freshUntil + keep <= now ||
      !this.current(entry, scope)
    )
      return call;
    // Read again when used: an invalidation meanwhile wins, a value written meanwhile is newer.
    const valid = () => servableKept(store, key, this.ctx.expiryNow(), (e) => this.current(e, scope));
    return servingStaleOnError(this.ctx, key, policy, scope, call, valid);
  }

  /** A refresh this caller runs and waits for (handlers), falling back on the value it read when it fails. */
  private inline<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope: CallScope, read: { value: T }) {
    this.ctx.miss(key, policy, scope);
    const run = this.bounded(this.compute(key, factory, policy, scope), policy, key);
    return refreshedInline(this.ctx, key, policy, scope, run, read.value);
  }

  private slow<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    entry: LocalEntry | undefined,
    now: number,
  ): Promise<T> {
    if (this.servableStale(entry, scope, now)) {
      if (
        scope?.refreshInline === true &&
        this.flights.get(key) === undefined &&
        !this.ctx.revalidation.backingOff(key, now)
      ) {
        return this.inline(key, factory, policy, scope, { value: entry.value as T });
      }
      this.ctx.stale(key, policy, scope);
      const read = { stale: entry.value as T };
      const refreshing = this.refreshInBackground(key, factory, policy, scope, read);
      return Promise.resolve(staleOrSoon(read.stale, refreshing, policy));
    }
    this.ctx.miss(key, policy, scope);
    // Invalidations here detach computations at once; another app's on this store, by the versions.
    const flight = this.flights.get<T>(key);
    if (flight instanceof LocalFlight && joinable(this.versions, flight)) {
      // Called by that very computation: it runs uncached rather than wait for itself.
      if (reentrant(flight, scope)) return runFactory(this.ctx, key, policy, factory);
      return joined(flight, scope, () => this.getOrSet(key, factory, policy, { ...scope, rejoined: true }));
    }
    return this.compute(key, factory, policy, scope);
  }

  /**
   * Synchronous variant, so a sync method stays sync. Grace serves the stale value and recomputes
   * right after (in a microtask). No single-flight is needed.
   */
  getOrSetSync<T>(
    key: string,
    factory: () => T,
    policy: CachePolicy,
    scope?: CallScope,
    space?: string,
    rest?: string,
  ): T {
    const now = this.ctx.expiryNow();
    const { store } = this;
    const row = findRow(store, key, now, space, rest);
    if (freshRow(store, this.versions, row, now, scope)) {
      const value = store.valueAt(row) as T;
      this.ctx.hit(key, policy, scope);
      return value;
    }
    const entry = readEntry(store, row, LocalMeta);
    if (this.servableStale(entry, scope, now)) {
      this.ctx.stale(key, policy, scope);
      if (this.flights.get(key) === undefined && !this.ctx.revalidation.backingOff(key, now)) {
        const flight = this.begin<T>(key, policy, scope);
        flight.promise = Promise.resolve(entry.value as T);
        queueMicrotask(() => {
          try {
            this.store1(flight, this.runSync(flight, factory, policy), policy, scope);
            this.ctx.revalidation.succeeded(key);
          } catch {
            this.ctx.revalidation.failed(key, this.ctx.now());
          } finally {
            this.flights.settle(flight);
          }
        });
      }
      return entry.value as T;
    }
    this.ctx.miss(key, policy, scope);
    const flight = this.begin<T>(key, policy, scope);
    try {
      const value = this.runSync(flight, factory, policy);
      this.store1(flight, value, policy, scope);
      return value;
    } finally {
      this.flights.settle(flight);
    }
  }

  async refresh<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope): Promise<T> {
    this.versions.touchKeys([key]); // older computations of the key, in any app on this store, store nothing
    let declined = false;
    const run = this.compute(key, factory, policy, scope, () => (declined = true));
    const value = await this.bounded(run, policy, key);
    // A new value the computation did not store (skip, cacheIf) must not leave the old one served.
    if (declined) await this.invalidateKeys([key]);
    return value;
  }

  async inspect(key: string, scope?: CallScope): Promise<Inspection> {
    const now = this.ctx.now();
    const entry = readEntry(this.store, this.store.find(key, now), LocalMeta);
    return entry === undefined || !this.current(entry, scope) ? { state: 'miss' } : inspectEntry(entry, now);
  }

  async expire(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean> {
    const now = this.ctx.now();
    const entry = readEntry(this.store, this.store.find(key, now), LocalMeta);
    if (entry === undefined || entry.staleUntil <= now) return false;
    if (!this.versions.fresh(entry.at, entry.meta, entry.sum, entry.sig, scope?.deps)) return false;
    return expireEntry(this.store, key, entry, now, freshForMs, policy?.staleIfErrorMs ?? 0);
  }

  /** Write-through: the entry records what it read before `run`, stored unless detached meanwhile. */
  async put<T>(key: string, run: () => Promise<T>, policy: CachePolicy, scope?: CallScope): Promise<PutOutcome<T>> {
    const flight = this.begin<T>(key, policy, scope, this.writes);
    const value = await run().finally(() => this.writes.settle(flight));
    const newest = !flight.cancelled;
    const since = this.invalidateNow([key]); // computations from the data before it are not stored
    if (newest) storeComputed(this.ctx, this.store, this.versions, flight, value, policy, scope, since);
    return { value };
  }

  async invalidateKeys(keys: readonly string[]): Promise<void> {
    this.invalidateNow(keys);
  }

  /** Detaches, removes and marks the keys at once; the logical time of the mark. */
  private invalidateNow(keys: readonly string[]): number {
    this.flights.detachKeys(keys);
    this.writes.detachKeys(keys);
    for (const key of keys) this.store.remove(key);
    const at = this.versions.touchKeys(keys);
    this.ctx.emit({ type: 'invalidate', keys, store: this.ctx.name });
    return at;
  }

  async invalidateDeps(deps: readonly string[]): Promise<void> {
    this.flights.detachWhere(new Set(deps));
    this.versions.invalidate(deps);
    this.ctx.emit({ type: 'invalidate', tags: deps, store: this.ctx.name });
  }

  async clear(prefix: string, allDep: string): Promise<void> {
    this.flights.detachWhere(new Set([allDep]), prefix);
    this.versions.invalidate([allDep]);
    await this.store.clear(prefix);
    this.ctx.emit({ type: 'invalidate', prefix, store: this.ctx.name });
  }

  /** Refreshes are tracked in the context's background, which the memoizer drains. */
  close(): void {}

  private servableStale(entry: LocalEntry | undefined, scope: CallScope | undefined, now: number): entry is LocalEntry {
    return entry !== undefined && entry.staleUntil > now && this.current(entry, scope);
  }

  /** Written under this call's etag, and none of its dependencies invalidated since. */
  private current(entry: LocalEntry, scope: CallScope | undefined): boolean {
    return (
      entry.meta.etag === scope?.etag && this.versions.fresh(entry.at, entry.meta, entry.sum, entry.sig, scope?.deps)
    );
  }

  /** One refresh per key, unless a failed one backs off; one registered is current (`read`: see `refreshed`). */
  private refreshInBackground<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    read?: { stale: T },
  ): Promise<T> | undefined {
    const existing = this.flights.get<T>(key);
    if (existing !== undefined) return refreshed(existing, read);
    const { revalidation } = this.ctx;
    if (revalidation.backingOff(key, this.ctx.now())) return undefined;
    const run = revalidation.follow(key, this.compute(key, inBackground(factory), policy, scope), this.ctx.now);
    return this.ctx.background.track(run); // close() waits for it, as on shared stores
  }

  private compute<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope, declined?: () => void) {
    const flight = this.begin<T>(key, policy, scope, this.flights, declined !== undefined); // refresh: replacing
    flight.control = new FactoryControl(this.ctx.prefix, policy.owner, flight);
    flight.promise = runFactory(this.ctx, key, policy, factory, flight.control).then(
      (value) => {
        flight.resolved = true;
        const extra = () => flight.extraDeps(value, scope);
        flight.joinable = joinCheck(extra, (deps) => () => this.versions.untouchedSince(flight.at, deps));
        if (this.store1(flight, value, policy, scope)) declined?.();
        this.flights.settle(flight);
        return value;
      },
      (error: unknown) => {
        this.flights.settle(flight);
        throw error;
      },
    );
    return flight.promise;
  }

  /** timeout.hard for a call: past it the caller is rejected and the key's computation no longer joined. */
  private bounded<T>(run: Promise<T>, policy: CachePolicy, key: string): Promise<T> {
    return withHardTimeout(run, policy, key, this.ctx.background, this.flights);
  }

  /** A synchronous computation, marked as running (cacheContext(), calls that would wait for it). */
  private runSync<T>(flight: LocalFlight<T>, factory: () => T, policy: CachePolicy): T {
    flight.control = new FactoryControl(this.ctx.prefix, policy.owner, flight);
    return computingSync([flight.key], factory, flight.control);
  }

  /** Registers a computation with what it depends on and when it started. */
  private begin<T>(key: string, policy: CachePolicy, scope?: CallScope, flights = this.flights, replacing = false) {
    const extra = scope?.deps;
    const tagged = extra !== undefined && extra.length > 0;
    const deps = tagged ? [...policy.deps, ...extra] : policy.deps;
    let meta = this.versions.meta(policy.deps, scope?.etag);
    const signed = signedTags(scope);
    if (tagged && signed === undefined) meta = this.versions.extend(meta, extra);
    const flight = new LocalFlight<T>(key, deps, meta, signed, this.versions.now());
    flights.start(flight, replacing, scope);
    return flight;
  }

  /** Stores a computed value unless its computation was overtaken; nothing here can fail the call. */
  private store1<T>(flight: LocalFlight<T>, value: T, policy: CachePolicy, scope: CallScope | undefined): boolean {
    return storeComputed(this.ctx, this.store, this.versions, flight, value, policy, scope);
  }
}
