import type { EnvelopeView } from '../codec/envelope';
import type { CachePolicy, CallScope } from '../types/policy';
import type { EngineContext } from './context';
import { withHardTimeout } from './factory-runner';
import { refreshed, type Flights } from './flights';
import type { Compute } from './remote-joins';
import { inBackground } from './reentry';
import { refreshedInline } from './revalidation';
import type { Factory } from './topology';
import type { RemoteVersions } from './versions';

/** What a lookup read of an entry it will refresh: the epoch, and the entry when one was found. */
export interface ReadEntry {
  readonly epoch: string | undefined;
  readonly view?: EnvelopeView;
}

/** A shared store's refreshes of an entry a lookup found stale or near expiry (grace, `refreshAhead`). */
export class RemoteRefreshes {
  /** Keys whose `soon` refresh waits for its epoch read. */
  private readonly reading = new Set<string>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly flights: Flights,
    private readonly versions: RemoteVersions,
    private readonly compute: Compute,
  ) {}

  /**
   * Starts one refresh for the key unless one runs or a failed one backs off (`read`: see
   * `refreshed`). The method starts now, before the caller gets the value it read: a caller that
   * then reuses its argument object for its next call (`q.page = n` in a loop) must not have this
   * refresh read it. Its snapshot is the entry's own tokens, which the lookup judged current, so it
   * needs no store command first; it reads them first with a lock, without an entry or an epoch, or
   * when the entry lacks some of the call's dependencies or cannot list them.
   */
  background<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    found: ReadEntry,
    read?: { stale: T },
  ): Promise<T> | undefined {
    const { epoch } = found;
    const existing = this.flights.joinable<T>(key, scope);
    if (existing !== undefined && !existing.cancelled)
      return refreshed(existing, read, epoch !== undefined && existing.epoch === epoch);
    const { revalidation, background } = this.ctx;
    if (revalidation.backingOff(key, this.ctx.now())) return undefined;
    const run = this.compute(key, inBackground(factory), policy, scope, epoch, { read: found.view });
    void background.track(revalidation.follow(key, run, this.ctx.now));
    return run;
  }

  /**
   * A tiered store's L1 hit near expiry under a lease (served at once, L2 not read): a refresh after
   * reading the current epoch. It starts after the caller went on, so a caller that reused its
   * argument objects meanwhile has it refused (not stored) unless they are plain data it copies.
   */
  soon<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope: CallScope | undefined): void {
    // One epoch read per key at a time: hits on a stalled store must not pile one each on it.
    if (this.flights.get(key) !== undefined || this.reading.has(key)) return;
    if (this.reading.size > 10_000) this.reading.clear(); // bounded: forgetting only reads again
    this.reading.add(key);
    // Bounded: a read that never settles (a store past its own timeouts) must not hold the key.
    void this.versions.readEpoch().then((read) => {
      this.reading.delete(key);
      if (read !== undefined) void this.background(key, factory, policy, scope, read)?.catch(() => undefined);
    });
  }

  /** A refresh this caller runs and waits for (handlers), falling back on the value it read when it fails. */
  inline<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope,
    found: { epoch: string | undefined; value: unknown },
  ): Promise<T> {
    this.ctx.miss(key, policy, scope);
    const computed = this.compute(key, factory, policy, scope, found.epoch);
    const run = withHardTimeout(computed, policy, key, this.ctx.background, this.flights, undefined, scope.giveUp);
    return refreshedInline(this.ctx, key, policy, scope, run, found.value as T);
  }
}
