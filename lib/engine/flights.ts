import type { CachePolicy, CallScope } from '../types/policy';
import { extraDepsOf } from './entry-plan';
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
  get cancelled(): boolean {
    return this.cancelledAt !== undefined;
  }
  set cancelled(yes: boolean) {
    this.cancelledAt = yes ? (this.cancelledAt ?? performance.now()) : undefined;
  }
  /** When it was detached: its values still stand for those who joined it before (GraphQL joins). */
  cancelledAt: number | undefined;
  /** The value exists (its write may still be under way). */
  resolved = false;
  /** Remote: what it read before running (undefined until read, or when the store could not answer). */
  snapshot: Promise<Snapshot | undefined> | undefined;
  /** In-process logical time when it started (a two-tier L1 copy of its value records it). */
  stamp = 0;
  /** What the computation said about its entry while it ran (cacheContext()). */
  control: FactoryControl | undefined;
  /**
   * Set once the value is known, when it has dependencies known only from it (result tags,
   * `addTags`): whether a caller that joined may take the value — no invalidation of them since
   * the computation started, as far as the store can tell when asked. Asked per caller, whatever
   * became of the computation (detached, not stored, its write under way).
   */
  joinable: (() => boolean | Promise<boolean>) | undefined;
  /** Remote: the versions the entry records with its result's dependencies (read once, shared by the write and the callers' checks). */
  extended: Promise<Snapshot | 'overtaken' | undefined> | undefined;
  /**
   * Remote: a fresh copy of the value, decoded from the bytes its write took, for callers that
   * joined — as a hit gets its own. The caller that started it may change the one it holds.
   */
  copy: (() => unknown) | undefined;
  /** Remote: its entry's write, once under way (a lock holder releases after it, in the background). */
  written: Promise<unknown> | undefined;
  /** performance.now() when it was created (Flights.overdue). */
  readonly startedAt = performance.now();
  /** A refresh or set: a newer one of its key here started (Flights.startReplacement); it writes nothing. */
  superseded = false;
  /** Its entry in Flights' late set, once overdue. */
  lateRef: WeakRef<Flight> | undefined;
  private extra: { deps: readonly string[] | undefined } | { error: unknown } | undefined;

  constructor(
    readonly key: string,
    /** Dependency keys known when it started: an invalidation of any of them detaches it. */
    readonly deps: readonly string[],
    /** Remote: the epoch its lookup read (a caller that read the same epoch may join). */
    readonly epoch: string | undefined,
  ) {}

  /**
   * The dependencies known only from its value (result tags, `addTags`), computed once: the
   * callers' join check and the write share them, so `resultTags` runs once per computation (one
   * that throws, throws for both).
   */
  extraDeps(value: T, scope: CallScope | undefined): readonly string[] | undefined {
    if (this.extra === undefined) {
      try {
        this.extra = { deps: extraDepsOf(value, scope, this.control) };
      } catch (error) {
        this.extra = { error };
      }
    }
    if ('error' in this.extra) throw this.extra.error;
    return this.extra.deps;
  }
}

/**
 * A call's scope under a hard timeout: once the timeout passed (`giveUp`), a computation the call
 * starts afterwards (its lookup answered late) is never joined by calls still waiting, like one it
 * had started before (`overdue`). A batch's items carry their own `abandoned`, kept. Without a
 * hard timeout: the scope as it is (nothing allocated).
 */
export function timedScope(policy: CachePolicy, scope: CallScope | undefined): CallScope | undefined {
  if (policy.hardTimeoutMs === undefined) return scope;
  let gaveUp = false;
  return {
    ...scope,
    abandoned: () => gaveUp || scope?.abandoned?.() === true,
    giveUp: () => {
      gaveUp = true;
    },
  };
}

/** The computations under way in this process, by key (single-flight). */
export class Flights {
  private readonly byKey = new Map<string, Flight>();
  /**
   * Computations past a caller's hard timeout: not joined, still detached by invalidations. Held
   * weakly: one that can still finish is reachable through its own promise chain; one that never
   * settles (nothing will ever resolve it) is not kept alive here, nor what its callers passed.
   */
  private readonly late = new Set<WeakRef<Flight>>();

  /** The late computations still alive (dead references are dropped on the way). */
  private *lateFlights(): Generator<Flight> {
    for (const r of this.late) {
      const f = r.deref();
      if (f === undefined) this.late.delete(r);
      else yield f;
    }
  }

  get<T>(key: string): Flight<T> | undefined {
    return this.byKey.get(key) as Flight<T> | undefined;
  }

  /**
   * The computation of `key` a call may share: the one under way, or, for a call that already gave
   * up (nobody waits for what it gets), the newest late one still standing. Many callers that gave
   * up before their lookups answered share one computation, as they would have before giving up.
   */
  joinable<T>(key: string, scope: CallScope | undefined): Flight<T> | undefined {
    const flight = this.byKey.get(key) as Flight<T> | undefined;
    if ((flight !== undefined && !flight.cancelled) || this.late.size === 0 || scope?.abandoned?.() !== true)
      return flight;
    let newest: Flight | undefined;
    for (const f of this.lateFlights())
      if (f.key === key && !f.cancelled && (newest === undefined || f.startedAt > newest.startedAt)) newest = f;
    return (newest as Flight<T> | undefined) ?? flight;
  }

  /**
   * Registers `flight`, detaching the one it replaces. `replacing` (refresh, set): overdue ones
   * of the key too — an explicit replacement must not be overwritten by an older computation.
   * `scope.abandoned`: its caller already gave up (past its hard timeout, timedScope): never joined.
   */
  start(flight: Flight, replacing = false, scope?: CallScope): void {
    const previous = this.byKey.get(flight.key);
    if (previous !== undefined) previous.cancelled = true;
    if (replacing) for (const f of this.lateFlights()) if (f.key === flight.key) this.detach(f);
    this.byKey.set(flight.key, flight);
    if (scope?.abandoned?.() === true) this.overdue(flight.key, Infinity, 0);
  }

  /**
   * A caller of `key` that started at `calledAt` passed its hard timeout: the key's computation —
   * its own (started after it), or one that has run that long — is no longer joined; later calls
   * start their own (one that never settles must not hold its key; a slow one costs at most one
   * more computation per hard timeout). It is not detached: its value is still stored if it comes,
   * unless an invalidation or a refresh detaches it first.
   */
  overdue(key: string, calledAt: number, hardMs: number): void {
    const flight = this.byKey.get(key);
    if (flight === undefined) return;
    // Timers keep whole milliseconds and may fire a fraction early: a flight this close is overdue.
    if (flight.startedAt < calledAt && performance.now() - flight.startedAt < hardMs - 2) return;
    this.byKey.delete(key);
    if (this.late.size >= 64) for (const _ of this.lateFlights()); // sweep references to collected ones
    flight.lateRef = new WeakRef<Flight>(flight);
    this.late.add(flight.lateRef);
  }

  /** Refreshes and sets under way, by key, until their entry is written (replaceEntry). */
  private readonly replacements = new Map<string, Flight>();

  /** A refresh or set of `flight.key` starts: the one under way, older, is superseded. */
  startReplacement(flight: Flight): void {
    const previous = this.replacements.get(flight.key);
    if (previous !== undefined && previous !== flight) previous.superseded = true;
    this.replacements.set(flight.key, flight);
  }

  endReplacement(flight: Flight): void {
    if (this.replacements.get(flight.key) === flight) this.replacements.delete(flight.key);
  }

  /** Removes the flight once done (unless a newer one replaced it). */
  settle(flight: Flight): void {
    if (this.byKey.get(flight.key) === flight) this.byKey.delete(flight.key);
    if (flight.lateRef !== undefined) this.late.delete(flight.lateRef);
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
    if (this.late.size > 0) for (const f of this.lateFlights()) if (keys.includes(f.key)) this.detach(f);
  }

  /** Detaches every flight that depends on one of `deps` (or whose key starts with `prefix`). */
  detachWhere(deps: ReadonlySet<string>, prefix?: string): void {
    const hit = (f: Flight) => (prefix !== undefined && f.key.startsWith(prefix)) || f.deps.some((d) => deps.has(d));
    for (const flight of this.byKey.values()) if (hit(flight)) this.detach(flight);
    for (const flight of this.lateFlights()) if (hit(flight)) this.detach(flight);
  }

  private detach(flight: Flight): void {
    flight.cancelled = true;
    if (this.byKey.get(flight.key) === flight) this.byKey.delete(flight.key);
    if (flight.lateRef !== undefined) this.late.delete(flight.lateRef);
  }
}

/**
 * A caller joins a computation it did not start (a batch loads its other items meanwhile). When
 * an invalidation of a dependency known only from the result overtook it, the caller — who may
 * have started after that invalidation — runs again (`again`, with `rejoined`): once, since any
 * computation it then joins started after it did (one key has one registered computation, and the
 * refused one is detached), so an invalidation overtaking that one began after the caller.
 */
export function joined<T>(
  flight: Flight<T>,
  scope: CallScope | undefined,
  again: () => Promise<T>,
  /** The call alone, uncached. (The memory store's computations start within their call: their arguments never change.) */
  alone: () => Promise<T> = again,
): Promise<T> {
  scope?.waiting?.();
  // Once is enough for invalidations, not for changed arguments: the computation rejoined may have
  // run on another caller's changed object too. Then the caller computes alone (no third round).
  if (scope?.rejoined === true)
    return flight.promise.then((value) => (flight.control?.argsChanged === true ? alone() : value));
  // Refused: nobody joins it any more (its entry, if written, records the old versions anyway).
  return takenOr(flight, () => ((flight.cancelled = true), again()));
}

/**
 * A caller served from grace (`read`), waiting (`timeout.soft`) for the refresh under way: that
 * refresh's value, unless an invalidation overtook it (`current` false: one came between its
 * start and the caller's lookup; or one of a dependency known only from its value); then the
 * stale value the caller read, which is current. Undefined: serve stale at once.
 */
export function refreshed<T>(
  flight: Flight<T>,
  read: { stale: T } | undefined,
  current = true,
): Promise<T> | undefined {
  return read === undefined || !current ? undefined : takenOr(flight, () => read.stale);
}

function takenOr<T>(flight: Flight<T>, refused: () => T | Promise<T>): Promise<T> {
  return flight.promise.then((value) => {
    if (flight.control?.argsChanged === true) return refused(); // computed on another caller's changed object
    const joinable = flight.joinable?.();
    if (joinable === undefined || joinable === true) return own(flight, value);
    if (joinable === false) return refused();
    return joinable.then((yes) => (yes ? own(flight, value) : refused()));
  });
}

/** A joiner's own copy of the value where the flight has one (remote), else the value. */
function own<T>(flight: Flight<T>, value: T): T {
  return flight.copy === undefined ? value : (flight.copy() as T);
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
