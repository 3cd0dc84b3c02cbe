import type { LocalCacheStore } from '../types/store';
import { Flight } from './flights';
import { LocalVersions, type TagState } from './local-versions';

/** An entry kept as an object in an in-process store (no serialization: a hit is a Map lookup). */
export class LocalEntry<T = unknown> {
  constructor(
    readonly value: T,
    /** Logical time the computation started (see LocalVersions). */
    readonly at: number,
    readonly freshUntil: number,
    readonly staleUntil: number,
    readonly deps: readonly TagState[],
    readonly etag: string | undefined,
    readonly createdAt: number,
  ) {}
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
