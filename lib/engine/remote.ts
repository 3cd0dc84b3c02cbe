import type { CachePolicy, CallScope, Inspection } from '../types/policy';
import type { EntryCodec } from '../codec/entry-codec';
import { CachedErrorRecord } from '../codec/cached-error-record';
import { withDeadline } from '../util/deadline';
import { BatchLookup, type Found } from './batch-lookup';
import type { EngineContext } from './context';
import { FactoryControl } from './factory-control';
import { runFactory, staleOrSoon, withHardTimeout } from './factory-runner';
import { Flight, Flights, timedScope, type Snapshot } from './flights';
import { EntryWriter } from './entry-writer';
import { EntryExpiry } from './entry-expiry';
import { LockedCompute } from './locked-compute';
import { RemoteInvalidation, type Change } from './remote-invalidation';
import { RemoteJoins, type ComputeOptions } from './remote-joins';
import { RemoteRefreshes } from './remote-refreshes';
import { checkFound, inspected, lookupOrServeStale } from './read-guards';
import type { RemoteObserver } from './remote-observer';
import type { Factory, PutOutcome, Topology } from './topology';
import { replaceEntry, writeThrough } from './write-through';
import { RemoteVersions } from './versions';

/**
 * A shared store (Redis, memcached, a tiered store's L2): batched lookups decided by versions,
 * computations that record what they read before running, and joins that are checked — a caller
 * joins a computation under way only if no invalidation of its dependencies happened since it
 * started, as far as the store can tell at the caller's start (and at its end, for result tags).
 */
export class RemoteTopology implements Topology {
  readonly local = false;
  readonly versions: RemoteVersions;
  private readonly lookups: BatchLookup;
  readonly flights = new Flights();
  readonly invalidation: RemoteInvalidation;
  readonly writer: EntryWriter;
  private readonly locked: LockedCompute;
  private readonly joins: RemoteJoins;
  private readonly refreshes: RemoteRefreshes;
  /** expireIn: judged and retimed by compare-and-set (entry-expiry.ts). */
  readonly expire: Topology['expire'];
  observer: RemoteObserver = {};

  constructor(
    readonly ctx: EngineContext,
    codec: EntryCodec,
    /** In-process logical time (two-tier): stamps lookups and computations for L1 copies. */
    readonly stamp: () => number = () => 0,
  ) {
    this.versions = new RemoteVersions(ctx);
    this.invalidation = new RemoteInvalidation(ctx, this.versions, this.flights, () => this.observer);
    this.lookups = new BatchLookup(ctx, this.versions, codec, this.invalidation.failed.deps, stamp);
    this.writer = new EntryWriter(ctx, codec, this.versions, this.invalidation.failed, () => this.observer);
    const expiry = new EntryExpiry(ctx, codec, this.versions, this.lookups, () => this.observer);
    this.expire = expiry.expire.bind(expiry);
    this.locked = new LockedCompute(ctx, this.lookups, this.versions, this.flights, this.run.bind(this), this.writer);
    this.joins = new RemoteJoins(ctx, this.versions, this.flights, this.compute.bind(this), this.getOrSet.bind(this));
    this.refreshes = new RemoteRefreshes(ctx, this.flights, this.versions, this.compute.bind(this));
  }

  registerLifetime(ms: number): void {
    this.versions.registerLifetime(ms);
  }

  getOrSet<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope): Promise<T> {
    return this.decided(key, policy, scope, (found, own) => this.answer(key, factory, policy, own, found));
  }

  /** A tiered store's L1 hit near expiry under a lease: served at once, refreshed in the background. */
  refreshSoon<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope: CallScope | undefined): void {
    this.refreshes.soon(key, factory, policy, scope);
  }

  /**
   * A tiered store's L1 copy near expiry without a lease (`refreshAhead`): the L2 lookup confirms it
   * (one read, as the epoch check would) and starts the refresh before the caller resumes. When L2
   * does not hold the entry any more (evicted) but its epoch is still the one the
   * copy was written under, the copy is served, and the refresh reads its snapshot first.
   */
  nearExpiry<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    copy: { value: T; epoch: string },
  ): Promise<T> {
    return this.decided(key, policy, scope, (found, own) => {
      if (found.state !== 'miss' || !found.reachable || found.epoch !== copy.epoch)
        return this.answer(key, factory, policy, own, found);
      void this.refreshes.background(key, factory, policy, own, found);
      this.ctx.hit(key, policy, scope);
      return copy.value;
    });
  }

  /**
   * Looks the key up (bounded: the operation and hard timeouts, stale-if-error) and acts on what it
   * found, with the call's own scope (`own`: what it starts after its hard timeout is not joined).
   */
  private decided<T>(
    key: string,
    policy: CachePolicy,
    scope: CallScope | undefined,
    then: (found: Found, own: CallScope | undefined) => T | Promise<T>,
  ): Promise<T> {
    let answered = false;
    const own = timedScope(policy, scope);
    const answer = (found: Found) => ((answered = true), then(found, own));
    const { ctx, lookups, flights } = this;
    // A handler's computation is bounded in `answer` (a refresh past its hard timeout falls back on
    // what it read); until it is answered, its lookup is.
    const released = scope?.refreshInline === true ? () => answered : undefined;
    const call =
      policy.staleIfErrorMs !== undefined
        ? lookupOrServeStale(ctx, lookups, flights, this.current, key, policy, own, answer, released)
        : withHardTimeout(
            lookups.lookup(key, scope?.etag, answer, policy.owner),
            policy,
            key,
            ctx.background,
            flights,
            released,
            own?.giveUp,
          );
    return policy.reveal === undefined ? call : call.then(policy.reveal);
  }

  /** Acts on what the lookup found. A fresh hit returns its value synchronously (no extra tick). */
  private answer<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    found: Found,
    checked = false,
  ): T | Promise<T> {
    const { ctx } = this;
    if (found.state !== 'miss' && policy.check !== undefined && !checked) {
      const verified = checkFound(ctx, this.writer, key, policy, found);
      if (verified instanceof Promise) return verified.then((f) => this.answer(key, factory, policy, scope, f, true));
      return this.answer(key, factory, policy, scope, verified, true);
    }
    if (found.state === 'miss') {
      ctx.miss(key, policy, scope);
      // The store did not answer in time: run uncached (nothing known to join, nothing safe to store).
      const run = found.reachable
        ? this.joins.joinOrCompute(key, factory, policy, scope, found.epoch, found.deadline)
        : runFactory(ctx, key, policy, factory);
      // A handler's miss is bounded here: its lookup was released from the hard timeout (`decided`).
      return scope?.refreshInline === true
        ? withHardTimeout(Promise.resolve(run), policy, key, ctx.background, this.flights, undefined, scope.giveUp)
        : run;
    }
    // An error record (cacheErrors) is no L1 copy: L1 hits skip `reveal`, which throws it.
    if (!(found.value instanceof CachedErrorRecord)) this.observer.found?.(key, found);
    if (found.state === 'fresh') {
      if (policy.refreshAheadMs !== undefined && found.view.freshUntil - this.ctx.now() < policy.refreshAheadMs) {
        // A handler refreshes by running its request: failing or overdue, it gets the value it read.
        if (scope?.refreshInline !== true) void this.refreshes.background(key, factory, policy, scope, found);
        else if (this.flights.get(key) === undefined && !ctx.revalidation.backingOff(key, ctx.now()))
          return this.refreshes.inline(key, factory, policy, scope, found);
      }
      ctx.hit(key, policy, scope);
      return found.value as T;
    }
    if (
      scope?.refreshInline === true &&
      this.flights.get(key) === undefined &&
      !ctx.revalidation.backingOff(key, this.ctx.now())
    )
      return this.refreshes.inline(key, factory, policy, scope, found);
    ctx.stale(key, policy, scope);
    const stale = found.value as T;
    return staleOrSoon(stale, this.refreshes.background(key, factory, policy, scope, found, { stale }), policy);
  }

  /** Recomputes and stores whatever is cached; resolves once the value is stored. */
  refresh<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope): Promise<T> {
    const deadline = performance.now() + this.ctx.operationTimeoutMs; // one budget: epoch read + computation
    const own = timedScope(policy, scope);
    const run = this.versions
      .readEpoch()
      .then((read) => this.compute(key, factory, policy, own, read?.epoch, { awaitWrite: true, deadline }));
    return withHardTimeout(run, policy, key, this.ctx.background, this.flights, undefined, own?.giveUp);
  }

  put<T>(key: string, run: () => Promise<T>, policy: CachePolicy, scope?: CallScope): Promise<PutOutcome<T>> {
    return writeThrough(this, key, run, policy, scope);
  }

  inspect(key: string, scope?: CallScope, policy?: CachePolicy): Promise<Inspection> {
    return this.lookups.lookup(key, scope?.etag, (found) => inspected(this.ctx, key, found, policy), policy?.owner);
  }

  /** An entry computed from these versions is still valid, none failed to invalidate here (undefined: unanswered). */
  private readonly current = (deps: readonly string[], tokens: readonly string[]): Promise<boolean | undefined> =>
    this.invalidation.failed.affects(deps) ? Promise.resolve(false) : this.versions.unchanged(deps, tokens);

  /**
   * One computation: snapshot (the versions it depends on, before it runs: read, or for a refresh
   * the entry's own, `read`), the factory, then the write, the flight registered until it lands so
   * nobody recomputes in between (until a caller's hard timeout makes it overdue). `awaitWrite`:
   * resolve only once stored (refresh()).
   */
  private compute<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    epoch: string | undefined,
    { awaitWrite = false, deadline = performance.now() + this.ctx.operationTimeoutMs, read }: ComputeOptions = {},
  ): Promise<T> {
    const extra = scope?.deps;
    const bucket = this.versions.bucketOf(key);
    const deps =
      extra === undefined || extra.length === 0 ? [...policy.deps, bucket] : [...policy.deps, ...extra, bucket];
    const ready =
      read === undefined || policy.lock !== undefined ? undefined : this.versions.snapshotFrom(epoch, deps, read);
    const flight = new Flight<T>(key, deps, epoch);
    flight.stamp = this.stamp();
    this.flights.start(flight, awaitWrite, scope);
    if (awaitWrite) this.flights.startReplacement(flight);
    const startedAt = this.ctx.now();
    if (policy.lock !== undefined) {
      flight.promise = this.locked.compute(flight, factory, policy, scope, startedAt, awaitWrite, deadline);
    } else if (ready !== undefined) {
      flight.snapshot = Promise.resolve(ready);
      flight.promise = this.run(flight, factory, policy, scope, ready, startedAt, awaitWrite); // starts the method now
    } else {
      // What is left of the caller's store-time budget: past it, the method runs and is not stored.
      flight.snapshot = withDeadline(this.versions.snapshot(deps, epoch), deadline - performance.now());
      flight.promise = flight.snapshot.then((snapshot) =>
        this.run(flight, factory, policy, scope, snapshot, startedAt, awaitWrite),
      );
    }
    flight.promise.then(
      () => this.flights.endReplacement(flight),
      () => (this.flights.settle(flight), this.flights.endReplacement(flight)),
    );
    return flight.promise;
  }

  private async run<T>(
    flight: Flight<T>,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    snapshot: Snapshot | undefined,
    startedAt: number,
    awaitWrite: boolean,
  ): Promise<T> {
    flight.control = new FactoryControl(this.ctx.prefix, policy.owner, flight);
    const value = await runFactory(this.ctx, flight.key, policy, factory, flight.control);
    flight.resolved = true;
    flight.joinable = this.writer.joinCheck(flight, value, snapshot, scope);
    if (awaitWrite || snapshot === undefined || flight.cancelled) {
      this.flights.settle(flight);
      if (awaitWrite)
        await this.ctx.background.track(replaceEntry(this, flight, value, snapshot, policy, scope, startedAt));
      return value;
    }
    const written = this.ctx.background.track(this.writer.write(flight, value, snapshot, policy, scope, startedAt));
    flight.written = written;
    // Registered until the entry is written and every lookup sent before that has been answered.
    void written.finally(() => this.lookups.afterSent(() => this.flights.settle(flight)));
    return value;
  }

  /** Another instance invalidated: computations here that depend on it are not stored. */
  detach(change: Change): void {
    this.invalidation.detach(change);
  }

  invalidateDeps(deps: readonly string[]): Promise<void> {
    return this.invalidation.deps(deps);
  }

  invalidateKeys(keys: readonly string[]): Promise<void> {
    return this.invalidation.keys(keys);
  }

  clear(prefix: string, allDep: string): Promise<void> {
    return this.invalidation.clear(prefix, allDep);
  }

  close(): void {
    this.invalidation.close();
  }
}
