import type { EnvelopeView } from '../codec/envelope';
import type { CachePolicy, CallScope } from '../types/policy';
import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';
import { runFactory } from './factory-runner';
import { type Flight, type Flights, joined, reentrant } from './flights';
import type { Factory } from './topology';
import type { RemoteVersions } from './versions';

export interface ComputeOptions {
  /** Resolve only once stored (refresh()). */
  awaitWrite?: boolean;
  /** When the caller's store-time budget ends (performance.now()). */
  deadline?: number;
  /** The entry a lookup judged current (a refresh of it): its tokens are the snapshot, if it has them all. */
  read?: EnvelopeView;
}

/** One computation of a shared store (RemoteTopology.compute). */
export type Compute = <T>(
  key: string,
  factory: Factory<T>,
  policy: CachePolicy,
  scope: CallScope | undefined,
  epoch: string | undefined,
  options?: ComputeOptions,
) => Promise<T>;
type GetOrSet = <T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope) => Promise<T>;

/**
 * A shared store's miss: a caller joins the computation of its key under way here only if no
 * invalidation of what that computation read happened since (same epoch read, or its versions
 * checked unchanged within the caller's store budget); otherwise it computes.
 */
export class RemoteJoins {
  constructor(
    private readonly ctx: EngineContext,
    private readonly versions: RemoteVersions,
    private readonly flights: Flights,
    private readonly compute: Compute,
    private readonly getOrSet: GetOrSet,
  ) {}

  /** Joins the computation under way if no invalidation overtook it since, else starts one. */
  joinOrCompute<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    epoch: string | undefined,
    deadline: number,
  ): Promise<T> {
    const flight = this.flights.joinable<T>(key, scope);
    if (flight === undefined || flight.cancelled) return this.compute(key, factory, policy, scope, epoch, { deadline });
    // Called by that very computation: it runs uncached rather than wait for itself.
    if (reentrant(flight, scope)) return runFactory(this.ctx, key, policy, factory);
    const again = () => this.getOrSet(key, factory, policy, { ...scope, rejoined: true });
    const alone = () => runFactory(this.ctx, key, policy, factory);
    if (epoch !== undefined && flight.epoch === epoch) return joined(flight, scope, again, alone);
    return this.joinChecked(flight, again, alone, key, factory, policy, scope, epoch, deadline);
  }

  private async joinChecked<T>(
    flight: Flight<T>,
    again: () => Promise<T>,
    alone: () => Promise<T>,
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    epoch: string | undefined,
    deadline: number,
  ): Promise<T> {
    // Waiting on another's computation (its lock, its read) is not this call's store time, nor a
    // batch's; the check is, within what is left of the budget: unanswered, not joined.
    scope?.waiting?.();
    const waitFrom = performance.now();
    const snapshot = await flight.snapshot;
    deadline += performance.now() - waitFrom;
    const unchanged =
      snapshot !== undefined &&
      !flight.cancelled &&
      (await withDeadline(this.versions.unchanged(snapshot.deps, snapshot.tokens), deadline - performance.now()));
    if (unchanged === true && !flight.cancelled) {
      return joined(flight, scope, again, alone);
    }
    const current = this.flights.get<T>(key);
    const other = current !== undefined && current !== flight && !current.cancelled;
    if (other && epoch !== undefined && current.epoch === epoch) return joined(current, scope, again, alone);
    return this.compute(key, factory, policy, scope, epoch, { deadline });
  }
}
