import type { Inspection } from '../types/policy';
import type { LocalCacheStore, LocalEntryRows } from '../types/store';
import { Flight } from './flights';
import { type LocalMeta, LocalVersions } from './local-versions';

/**
 * An in-process entry, read out of its store's row. The store keeps entries column-wise (no
 * object per entry); a hit reads the row in place, the slower paths (grace, stale-if-error,
 * inspect, expire) read it out once, before anything can write to the store.
 */
export interface LocalEntry<M extends LocalMeta = LocalMeta> {
  readonly value: unknown;
  /** Logical time the computation started (see LocalVersions). */
  readonly at: number;
  readonly freshUntil: number;
  readonly staleUntil: number;
  readonly meta: M;
}

/** The row of `key` (-1: none), looked up by its parts when the caller has them (see Topology.getOrSet). */
export function findRow(rows: LocalEntryRows, key: string, now: number, space?: string, rest?: string): number {
  return space === undefined || rest === undefined ? rows.find(key, now) : rows.findIn(space, rest, now);
}

/** The entry in `row` (-1: none) if the engine wrote it with a meta of class `kind`. */
export function readEntry<M extends LocalMeta>(
  rows: LocalEntryRows,
  row: number,
  kind: abstract new (...args: never[]) => M,
): LocalEntry<M> | undefined {
  if (row < 0) return undefined;
  const meta = rows.metaAt(row);
  if (!(meta instanceof kind)) return undefined;
  return {
    value: rows.valueAt(row),
    at: rows.atOf(row),
    freshUntil: rows.freshUntilOf(row),
    staleUntil: rows.staleUntilOf(row),
    meta,
  };
}

/** What a call would find in a current entry (its versions and etag checked by the caller). */
export function inspectEntry(entry: LocalEntry, now: number): Inspection {
  if (entry.freshUntil > now)
    return { state: 'fresh', value: entry.value, expiresAt: entry.freshUntil, source: 'store' };
  if (entry.staleUntil > now)
    return { state: 'stale', value: entry.value, expiresAt: entry.freshUntil, source: 'store' };
  return { state: 'miss' };
}

/** Makes a live, current entry fresh for `freshForMs` more (0: ends it, but for its grace and stale-if-error). */
export function expireEntry(
  store: LocalCacheStore,
  key: string,
  entry: LocalEntry,
  now: number,
  freshForMs: number,
  staleIfErrorMs: number,
): boolean {
  const grace = entry.staleUntil - entry.freshUntil;
  if (freshForMs <= 0 && grace <= 0 && staleIfErrorMs <= 0) return store.remove(key); // ends it now
  const { value, meta, at } = entry;
  const lifetime = freshForMs + Math.max(grace, staleIfErrorMs);
  store.putEntry(key, value, meta, at, now + freshForMs, now + freshForMs + grace, lifetime, now);
  return true;
}

/** A computation with what its entry will depend on and the logical time it started. */
export class LocalFlight<T> extends Flight<T> {
  constructor(
    key: string,
    deps: readonly string[],
    readonly meta: LocalMeta,
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
