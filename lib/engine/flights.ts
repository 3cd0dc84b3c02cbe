import type { CallScope } from '../types/policy';
import type { FactoryControl } from './factory-control';

/** What a remote computation read before it ran: the epoch and each dependency's version token. */
export interface Snapshot {
  readonly epoch: string | undefined;
  readonly deps: readonly string[];
  readonly tokens: readonly string[];
}

/** One computation under way for a key in this process. */
export class Flight<T = unknown> {
  promise!: Promise<T>;
  /** Detached by an invalidation (or a newer computation): nobody joins it, its result is not stored. */
  cancelled = false;
  /** The value exists (its write may still be under way). */
  resolved = false;
  /** Remote: what it read before running (undefined until read, or when the store could not answer). */
  snapshot: Promise<Snapshot | undefined> | undefined;
  /** In-process logical time when it started (a two-tier L1 copy of its value records it). */
  stamp = 0;
  /** What the computation said about its entry while it ran (cacheContext()). */
  control: FactoryControl | undefined;
  /**
   * Set once the value is known, when its entry has dependencies known only from the result
   * (result tags, `addTags`): whether an invalidation began while it ran, so the value may predate
   * it (a promise while the shared store is asked). Such a value is not stored, and a caller that
   * joined the computation runs the method again rather than take it.
   */
  overtaken: boolean | Promise<boolean> | undefined;

  /** An invalidation of a dependency known only from the result overtook it (see `overtaken`). */
  overtake(): true {
    this.cancelled = true; // nobody joins it any more
    return (this.overtaken = true);
  }

  constructor(
    readonly key: string,
    /** Dependency keys known when it started: an invalidation of any of them detaches it. */
    readonly deps: readonly string[],
    /** Remote: the epoch its lookup read (a caller that read the same epoch may join). */
    readonly epoch: string | undefined,
  ) {}
}

/** The computations under way in this process, by key (single-flight). */
export class Flights {
  private readonly byKey = new Map<string, Flight>();

  get<T>(key: string): Flight<T> | undefined {
    return this.byKey.get(key) as Flight<T> | undefined;
  }

  /** Registers `flight`, detaching the one it replaces. */
  start(flight: Flight): void {
    const previous = this.byKey.get(flight.key);
    if (previous !== undefined) previous.cancelled = true;
    this.byKey.set(flight.key, flight);
  }

  /** Removes the flight once done (unless a newer one replaced it). */
  settle(flight: Flight): void {
    if (this.byKey.get(flight.key) === flight) this.byKey.delete(flight.key);
  }

  /** Whether a computation for the key is under way (its value not yet known). */
  isComputing(key: string): boolean {
    const flight = this.byKey.get(key);
    return flight !== undefined && !flight.resolved;
  }

  detachKeys(keys: readonly string[]): void {
    for (const key of keys) {
      const flight = this.byKey.get(key);
      if (flight !== undefined) this.detach(flight);
    }
  }

  /** Detaches every flight that depends on one of `deps` (or whose key starts with `prefix`). */
  detachWhere(deps: ReadonlySet<string>, prefix?: string): void {
    for (const flight of this.byKey.values()) {
      if ((prefix !== undefined && flight.key.startsWith(prefix)) || flight.deps.some((d) => deps.has(d)))
        this.detach(flight);
    }
  }

  private detach(flight: Flight): void {
    flight.cancelled = true;
    this.byKey.delete(flight.key);
  }
}

/**
 * A caller joins a computation it did not start (a batch loads its other items meanwhile). When
 * an invalidation of a dependency known only from the result overtook it, the caller — who may
 * have started after that invalidation — runs again (`again`, with `rejoined`): once, since any
 * computation it then joins started after it did (one key has one registered computation, and the
 * overtaken one is no longer it), so an invalidation overtaking that one began after the caller.
 */
export function joined<T>(flight: Flight<T>, scope: CallScope | undefined, again: () => Promise<T>): Promise<T> {
  scope?.waiting?.();
  if (scope?.rejoined === true) return flight.promise;
  return flight.promise.then((value) => {
    const overtaken = flight.overtaken;
    if (overtaken === undefined || overtaken === false) return value;
    if (overtaken === true) return again();
    return overtaken.then((yes) => (yes ? again() : value));
  });
}

/**
 * Joining would wait for itself: the flight's computation started this call (or has not even
 * been registered with its promise yet, the call coming from its synchronous start).
 */
export function reentrant(flight: Flight, scope: CallScope | undefined): boolean {
  return (
    (flight.promise as Promise<unknown> | undefined) === undefined || scope?.ancestors?.includes(flight.key) === true
  );
}
