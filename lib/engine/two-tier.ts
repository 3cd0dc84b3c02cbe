import type { EnvelopeMeta } from '../codec/envelope';
import { StoreFailureError } from '../errors';
import type { CachePolicy, CallScope, Inspection } from '../types/policy';
import type { BusTransport } from '../types/bus';
import type { EntryCodec } from '../codec/entry-codec';
import type { LocalCacheStore } from '../types/store';
import type { Found } from './batch-lookup';
import { BusProtocol, type BusChange } from './bus';
import type { EngineContext } from './context';
import { runFactory, withHardTimeout } from './factory-runner';
import { findRow, freshRow, localVersions, readEntry } from './local-entry';
import { LocalMeta, type LocalVersions, type TagState } from './local-versions';
import { RemoteTopology } from './remote';
import type { Factory, PutOutcome, Topology } from './topology';

/** What a two-tier topology needs of a tiered store. */
export interface TierParts {
  l1: LocalCacheStore & { clear(prefix: string): Promise<void>; clearAll(): void };
  l1TtlMs: number;
  leaseMs: number;
  bus: BusTransport | undefined;
}

/** One bus protocol per tiered store and channel, shared by every engine on that store in this process. */
const buses = new WeakMap<object, Map<string, BusProtocol>>();
function busFor(tier: TierParts, channel: string): BusProtocol | undefined {
  if (tier.bus === undefined) return undefined;
  let byChannel = buses.get(tier);
  if (byChannel === undefined) buses.set(tier, (byChannel = new Map()));
  let bus = byChannel.get(channel);
  if (bus === undefined || bus.closed) byChannel.set(channel, (bus = new BusProtocol(tier.bus, channel, tier.leaseMs)));
  return bus;
}

/** Meta of an L1 copy of an L2 entry: the epoch it was read (or written) under confirms it when no lease holds. */
export class L1Meta extends LocalMeta {
  constructor(
    deps: readonly TagState[],
    etag: string | undefined,
    readonly epoch: string,
  ) {
    super(deps, undefined, etag);
  }
}

/**
 * Memory (L1) over a shared store (L2). An L1 hit is served from memory while this instance holds
 * its bus lease (it has applied every invalidation published before its last ping), and otherwise
 * confirmed by one batched read of the L2 epoch (no decoding). Everything else is the remote path,
 * whose lookups and writes fill L1. Invalidations apply to L1 here first, then to L2, then are
 * announced and acknowledged by every instance before they resolve.
 */
export class TwoTierTopology implements Topology {
  readonly local = false;
  private readonly remote: RemoteTopology;
  private readonly versions: LocalVersions;
  private readonly bus: BusProtocol | undefined;
  private readonly detach: () => void = () => undefined;
  /** The latest L1 meta made, and the dependency keys it was made of: the next copy alike shares it. */
  private latest: L1Meta | undefined;
  private latestDeps: readonly string[] = [];

  constructor(
    private readonly ctx: EngineContext,
    private readonly tier: TierParts,
    codec: EntryCodec,
  ) {
    this.versions = localVersions(tier.l1);
    this.remote = new RemoteTopology(ctx, codec, () => this.versions.now());
    this.remote.observer = {
      found: (key, found) => this.fill(key, found),
      stored: (key, value, meta, stamp) => this.stored(key, value, meta, stamp),
      invalidating: (change) => this.applyHere(change),
      expired: (key) => {
        tier.l1.remove(key);
        return this.dropElsewhere(key);
      },
      announce: (change) => this.announce(change),
    };
    this.bus = busFor(tier, `${ctx.prefix}:~bus`);
    if (this.bus !== undefined) {
      this.detach = this.bus.attach({
        invalidate: (change) => {
          this.remote.detach(change);
          this.applyHere(change);
        },
        drop: (keys) => {
          for (const key of keys) tier.l1.remove(key);
        },
        // Messages were lost: every copy, and every computation under way, may predate one.
        resync: () => {
          this.versions.invalidateAll();
          tier.l1.clearAll();
        },
      });
    }
  }

  registerLifetime(ms: number): void {
    this.remote.registerLifetime(ms);
  }

  get flights(): Topology['flights'] {
    return this.remote.flights;
  }

  getOrSet<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope?: CallScope,
    space?: string,
    rest?: string,
  ): Promise<T> {
    const now = this.ctx.now();
    const { l1 } = this.tier;
    const row = findRow(l1, key, now, space, rest);
    // The memory store's check: a copy that passes it needs none on the next hits until the next invalidation.
    const meta = freshRow(l1, this.versions, row, now, scope) ? l1.metaAt(row) : undefined;
    if (meta instanceof L1Meta) {
      const value = l1.valueAt(row) as T; // read before anything can write to the store
      const leased = this.bus?.leased(this.ctx.monotonic(now)) === true;
      const ahead = policy.refreshAheadMs !== undefined && l1.freshUntilOf(row) - now < policy.refreshAheadMs;
      if (ahead && this.flights.get(key) === undefined && !this.ctx.revalidation.backingOff(key, now)) {
        if (scope?.refreshInline === true) return this.remote.getOrSet(key, factory, policy, scope); // inline
        // Under a lease the copy is served at once (L2 slow or down costs nothing). Without one, the
        // L2 lookup that confirms it starts the refresh before the caller resumes (nearExpiry).
        if (!leased) return this.remote.nearExpiry(key, factory, policy, scope, { value, epoch: meta.epoch });
        this.remote.refreshSoon(key, factory, policy, scope);
      }
      if (leased) return this.hit(value, key, policy, scope);
      return this.confirm(value, meta.epoch, key, factory, policy, scope);
    }
    return this.remote.getOrSet(key, factory, policy, scope);
  }

  private hit<T>(value: T, key: string, policy: CachePolicy, scope: CallScope | undefined): Promise<T> {
    this.ctx.hit(key, policy, scope);
    return Promise.resolve(value);
  }

  /** Without a lease: the L1 copy is served if L2's epoch is still the one it was written under (a
   * store that cannot say in time has had the call's budget: the method runs uncached). */
  private confirm<T>(
    value: T,
    epoch: string,
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
  ): Promise<T> {
    return this.remote.versions.readEpoch().then((read) => {
      if (read?.epoch !== undefined && read.epoch === epoch) return this.hit(value, key, policy, scope);
      if (read !== undefined) return this.remote.getOrSet(key, factory, policy, scope);
      this.ctx.miss(key, policy, scope);
      const run = Promise.resolve(runFactory(this.ctx, key, policy, factory));
      return withHardTimeout(run, policy, key, this.ctx.background);
    });
  }

  refresh<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope): Promise<T> {
    return this.remote.refresh(key, factory, policy, scope);
  }

  put<T>(key: string, run: () => Promise<T>, policy: CachePolicy, scope?: CallScope): Promise<PutOutcome<T>> {
    return this.remote.put(key, run, policy, scope);
  }

  async inspect(key: string, scope?: CallScope, policy?: CachePolicy): Promise<Inspection> {
    const now = this.ctx.now();
    const entry = readEntry(this.tier.l1, this.tier.l1.find(key, now), L1Meta);
    // A read with a check skips L1: a CacheService call without validate may have filled it.
    if (
      policy?.check === undefined &&
      this.bus?.leased() === true &&
      entry !== undefined &&
      entry.freshUntil > now &&
      entry.meta.etag === scope?.etag &&
      this.versions.fresh(entry.at, entry.meta)
    ) {
      return { state: 'fresh', value: entry.value, expiresAt: entry.freshUntil, source: 'l1' };
    }
    return this.remote.inspect(key, scope, policy);
  }

  expire(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean> {
    return this.remote.expire(key, freshForMs, policy, scope);
  }

  invalidateKeys(keys: readonly string[]): Promise<void> {
    return this.remote.invalidateKeys(keys);
  }

  invalidateDeps(deps: readonly string[]): Promise<void> {
    return this.remote.invalidateDeps(deps);
  }

  clear(prefix: string, allDep: string): Promise<void> {
    return this.remote.clear(prefix, allDep);
  }

  close(): void {
    this.detach();
    this.remote.close();
  }

  /** Publishes an invalidation and waits for the acknowledgements; a failure names this store. */
  private async announce(change: BusChange): Promise<void> {
    if (this.bus === undefined) return;
    try {
      await this.bus.announce(change);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new StoreFailureError(`store '${this.ctx.name}': ${reason}`, error, {
        store: this.ctx.name,
        operation: 'publish',
      });
    }
  }

  /** Drops what this instance holds of an invalidation (its own, or one announced on the bus). */
  private applyHere(change: BusChange): void {
    this.versions.invalidate(change.deps);
    for (const key of change.keys) this.tier.l1.remove(key);
    if (change.prefix !== undefined) void this.tier.l1.clear(change.prefix);
  }

  /** An L2 entry read by a lookup that started at logical time `found.stamp`. */
  private fill(key: string, found: Extract<Found, { value: unknown }>): void {
    try {
      const { view } = found;
      this.putL1(
        key,
        found.value,
        view.dependencies(this.ctx.prefix).deps,
        found.stamp,
        view.freshUntil,
        view.staleUntil,
        view.etag,
        // The epoch the lookup read, its tokens checked after it: an entry written under an older
        // one is confirmed by that epoch from now on, not re-read whole on every hit.
        found.epoch ?? view.epoch,
      );
    } catch {
      // a corrupt dependency list only costs the L1 copy
    }
  }

  /** Written here: keep a copy, and have other instances drop their older one. */
  private async stored(key: string, value: unknown, meta: EnvelopeMeta, stamp: number): Promise<void> {
    this.putL1(key, value, meta.deps, stamp, meta.freshUntil, meta.staleUntil, meta.etag, meta.epoch);
    await this.dropElsewhere(key);
  }

  /** Tells other instances to drop their L1 copy of the key (not acknowledged). */
  private async dropElsewhere(key: string): Promise<void> {
    if (this.bus !== undefined) await this.ctx.guard.run('publish', key, () => this.bus!.dropped([key]), undefined);
  }

  private putL1(
    key: string,
    value: unknown,
    deps: readonly string[],
    at: number,
    freshUntil: number,
    staleUntil: number,
    etag: string | undefined,
    epoch: string,
  ): void {
    // Invalidated here since the read (or computation) started: the copy may predate it.
    if (!this.versions.untouchedSince(at, deps)) return;
    const now = this.ctx.now();
    const ttl = Math.min(staleUntil - now, this.tier.l1TtlMs);
    if (ttl <= 0) return;
    let meta = this.latest;
    if (meta === undefined || meta.etag !== etag || meta.epoch !== epoch || !sameKeys(this.latestDeps, deps)) {
      this.latest = meta = new L1Meta(this.versions.resolve(deps), etag, epoch);
      this.latestDeps = deps;
    }
    this.tier.l1.putEntry(key, value, meta, at, freshUntil, staleUntil, ttl, now);
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
