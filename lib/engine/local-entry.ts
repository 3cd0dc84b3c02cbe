import type { LocalCacheStore } from '../types/store';
import { Flight } from './flights';
import { LocalVersions, type TagState } from './local-versions';

/** The engine clock's value at process start: in-process entries keep their deadlines relative to it. */
const BASE = Math.floor(performance.timeOrigin);

/**
 * An entry kept as an object in an in-process store (no serialization: a hit is a Map lookup).
 * Its deadlines are whole milliseconds since the process started: small integers, which V8 keeps
 * in the object itself, where an absolute time would cost a 16-byte heap number per field (for
 * a process younger than ~24 days; older ones only pay those bytes). Rounded up: an entry may be
 * served up to 1 ms past its ttl, as the coarse expiry clock allows anyway.
 */
export class LocalEntry<T = unknown> {
  private readonly fresh: number;
  private readonly stale: number;

  constructor(
    readonly value: T,
    /** Logical time the computation started (see LocalVersions). */
    readonly at: number,
    freshUntil: number,
    staleUntil: number,
    readonly deps: readonly TagState[],
    readonly etag: string | undefined,
  ) {
    this.fresh = Math.ceil(freshUntil - BASE);
    this.stale = Math.ceil(staleUntil - BASE);
  }

  get freshUntil(): number {
    return this.fresh + BASE;
  }

  get staleUntil(): number {
    return this.stale + BASE;
  }
}

/** A computation with the in-process states it depends on and the logical time it started. */
export class LocalFlight<T> extends Flight<T> {
  constructor(
    key: string,
    deps: readonly string[],
    readonly states: readonly TagState[],
    readonly at: number,
  ) {
    super(key, deps, undefined);
  }
}

/** Versions of each in-process store, shared by every engine using that store object. */
const versionsOf = new WeakMap<LocalCacheStore, LocalVersions>();
export function localVersions(store: LocalCacheStore): LocalVersions {
  let v = versionsOf.get(store);
  if (v === undefined) versionsOf.set(store, (v = new LocalVersions()));
  return v;
}
